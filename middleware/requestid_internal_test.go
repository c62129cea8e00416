package middleware

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Ids made on several goroutines at once are UUIDs version 7 of the RFC
// variant, all distinct, increasing on each goroutine, and stamped with the
// time they were made (a burst of over 4096 a millisecond may run ahead by
// as many milliseconds as it has thousands of ids).
func TestNewRequestIDConcurrent(t *testing.T) {
	const goroutines, each = 4, 5000
	before := time.Now().UnixMilli()
	ids := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range ids {
		wg.Go(func() {
			for range each {
				ids[g] = append(ids[g], newRequestID())
			}
		})
	}
	wg.Wait()
	after := time.Now().UnixMilli()
	seen := make(map[string]bool, goroutines*each)
	for g, list := range ids {
		for i, id := range list {
			u, err := uuid.Parse(id)
			if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || u.String() != id {
				t.Fatalf("id %q: %v, version %d, variant %v", id, err, u.Version(), u.Variant())
			}
			if seen[id] {
				t.Fatalf("id %s made twice", id)
			}
			seen[id] = true
			if i > 0 && id <= list[i-1] {
				t.Fatalf("goroutine %d: %s after %s", g, id, list[i-1])
			}
			sec, nsec := u.Time().UnixTime()
			ms := sec*1000 + nsec/1e6
			if ms < before || ms > after+goroutines*each/4096+1 {
				t.Fatalf("id %s stamped %d ms, made between %d and %d", id, ms, before, after)
			}
		}
	}
}

// BenchmarkRequestID compares uuid.NewV7 with String, as RequestID did, to
// newRequestID.
func BenchmarkRequestID(b *testing.B) {
	b.Run("uuid_NewV7_String", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			id, err := uuid.NewV7()
			if err != nil {
				b.Fatal(err)
			}
			_ = id.String()
		}
	})
	b.Run("newRequestID", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = newRequestID()
		}
	})
}
