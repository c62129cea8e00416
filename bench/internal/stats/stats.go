// Package stats holds the small amount of arithmetic the load tool needs:
// latency percentiles from raw samples, and medians across repetitions.
package stats

import (
	"slices"
	"time"
)

// Latencies summarises a set of latency samples.
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
}

// Summarise sorts samples (nanoseconds) in place and returns their
// percentiles; it returns the zero value for no samples.
func Summarise(samples []int64) Latencies {
	if len(samples) == 0 {
		return Latencies{}
	}
	slices.Sort(samples)
	return Latencies{
		N:   len(samples),
		P50: time.Duration(Percentile(samples, 50)),
		P99: time.Duration(Percentile(samples, 99)),
		Max: time.Duration(samples[len(samples)-1]),
	}
}

// Percentile returns the p-th percentile (nearest rank) of sorted samples.
func Percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// Median returns the median of xs (the lower middle for an even count), or 0.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// MedianBy returns the element of rs whose key is the median key, so that
// the figures of one repetition stay together.
func MedianBy[T any](rs []T, key func(T) float64) T {
	var zero T
	if len(rs) == 0 {
		return zero
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b T) int {
		ka, kb := key(a), key(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}
