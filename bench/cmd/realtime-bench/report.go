package main

import (
	"fmt"
	"os"
	"strings"
)

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return n
}

// ratio formats a/b, or "–" when either is missing.
func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func find[T any](rows []T, server func(T) string, name string) (T, bool) {
	for _, r := range rows {
		if server(r) == name {
			return r, true
		}
	}
	var zero T
	return zero, false
}

func (res *Results) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## Results: %s\n\n", res.Started.Format("2006-01-02 15:04"))
	p("Machine: %s. Servers pinned to CPU %d, load generator to CPU %d. Medians of %s repetitions (echo: %s), interleaved across servers; the spread column is the range over the repetitions. The run took %v.\n\n",
		res.Machine, res.serverCPU, res.loadCPU, res.Config["reps"], res.Config["echoReps"], res.Duration)

	if len(res.Echo) > 0 {
		ref, _ := find(res.Echo, func(e EchoRow) string { return e.Server }, "gws")
		p("### Echo: %s\n\n", res.Config["echo"])
		p("| server | events/s | spread | × gws | p50 ms | p99 ms | p99 × gws | server CPU | load CPU | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, e := range res.Echo {
			p("| %s | %.0f | %s | %s | %.2f | %.2f | %s | %.0f%% | %.0f%% | %d |\n", e.Server, e.PerSec, spread(e.Reps, "%.0f"), ratio(e.PerSec, ref.PerSec),
				e.P50, e.P99, ratio(e.P99, ref.P99), e.ServerCPU, e.LoadCPU, e.Errors)
		}
		p("\n")
	}
	if len(res.Fanout) > 0 {
		ref, _ := find(res.Fanout, func(e BurstRow) string { return e.Server }, "gws")
		p("### Fanout burst: %s\n\n", res.Config["fanout"])
		p("| server | deliveries/s | spread | × gws | time to last delivery ms | deliveries per frame | server CPU | load CPU | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, e := range res.Fanout {
			p("| %s | %.0f | %s | %s | %.1f | %.1f | %.0f%% | %.0f%% | %d |\n", e.Server, e.PerSec, spread(e.Reps, "%.0f"), ratio(e.PerSec, ref.PerSec), e.ToLast, e.PerFrame, e.ServerCPU, e.LoadCPU, e.Errors)
		}
		p("\n")
	}
	if len(res.Paced) > 0 {
		ref, _ := find(res.Paced, func(e PacedRow) string { return e.Server }, "gws")
		p("### Paced fanout: %s; latency from send to receipt\n\n", res.Config["paced"])
		p("| server | p50 ms | p99 ms | p99 spread | p99 × gws | max ms | server CPU | publisher late ms | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, e := range res.Paced {
			p("| %s | %.2f | %.2f | %s | %s | %.2f | %.0f%% | %.1f | %d |\n", e.Server, e.P50, e.P99, spread(e.Reps, "%.1f"), ratio(e.P99, ref.P99), e.Max, e.ServerCPU, e.Late, e.Errors)
		}
		p("\n")
	}
	if len(res.Idle) > 0 {
		ref, _ := find(res.Idle, func(e IdleRow) string { return e.Server }, "gws")
		p("### Idle: %s; server resident memory\n\n", res.Config["idle"])
		p("| server | KiB per connection | spread | × gws | RSS before MiB | RSS after MiB | heap KiB/conn | stacks KiB/conn | goroutines/conn |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, e := range res.Idle {
			inside := "| – | – | –"
			if e.GoroutinesPerConn > 0 {
				inside = fmt.Sprintf("| %.1f | %.1f | %.1f", e.HeapPerConn/1024, e.StackPerConn/1024, e.GoroutinesPerConn)
			}
			p("| %s | %.1f | %s | %s | %.1f | %.1f %s |\n", e.Server, e.PerConn/1024, spread(mapf(e.Reps, func(x float64) float64 { return x / 1024 }), "%.1f"),
				ratio(e.PerConn, ref.PerConn), float64(e.Before)/(1<<20), float64(e.After)/(1<<20), inside)
		}
		p("\n")
	}
	if len(res.Cluster) > 0 {
		p("### Cluster fanout: %s, through Redis\n\n", res.Config["cluster"])
		p("| server | deliveries/s | spread | × its single instance | × gws single | time to last delivery ms | deliveries per frame | servers CPU | load CPU | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		ref, _ := find(res.Fanout, func(e BurstRow) string { return e.Server }, "gws")
		for _, e := range res.Cluster {
			single, _ := find(res.Fanout, func(x BurstRow) string { return x.Server }, e.Server)
			p("| %s | %.0f | %s | %s | %s | %.1f | %.1f | %.0f%% | %.0f%% | %d |\n", e.Server, e.PerSec, spread(e.Reps, "%.0f"), ratio(e.PerSec, single.PerSec), ratio(e.PerSec, ref.PerSec),
				e.ToLast, e.PerFrame, e.ServerCPU, e.LoadCPU, e.Errors)
		}
		p("\n")
	}
	res.targets(p)
	if len(res.Noisy) > 0 {
		p("### Noisy measurements\n\nOther processes kept running during these, even after two retries; their figures are kept but are less reliable:\n\n")
		for _, f := range res.Noisy {
			p("- %s\n", f)
		}
		p("\n")
	}
	if len(res.Failures) > 0 {
		p("### Failures\n\n")
		for _, f := range res.Failures {
			p("- %s\n", strings.ReplaceAll(f, "\n", " "))
		}
		p("\n")
	}
	return b.String()
}

// targets compares the ratios with the targets.
func (res *Results) targets(p func(string, ...any)) {
	type check struct {
		what, target string
		got          float64
		ok           func(float64) bool
	}
	var checks []check
	at := func(v float64) bool { return v > 0 }
	if rt, ok := find(res.Echo, func(e EchoRow) string { return e.Server }, "realtime"); ok {
		ref, _ := find(res.Echo, func(e EchoRow) string { return e.Server }, "gws")
		cf, _ := find(res.Echo, func(e EchoRow) string { return e.Server }, "centrifuge")
		checks = append(checks,
			check{"echo, events/s vs bare gws", "≥ 0.80×", div(rt.PerSec, ref.PerSec), func(v float64) bool { return at(v) && v >= 0.8 }},
			check{"echo, events/s vs centrifuge", "≥ 1.3×", div(rt.PerSec, cf.PerSec), func(v float64) bool { return at(v) && v >= 1.3 }},
			check{"echo, p99 vs bare gws", "≤ 1.5×", div(rt.P99, ref.P99), func(v float64) bool { return at(v) && v <= 1.5 }})
		if mn, ok := find(res.Echo, func(e EchoRow) string { return e.Server }, "realtime-min"); ok {
			checks = append(checks, check{"echo without stages, events/s vs bare gws", "≥ 0.95×", div(mn.PerSec, ref.PerSec), func(v float64) bool { return at(v) && v >= 0.95 }})
		}
	}
	if rt, ok := find(res.Fanout, func(e BurstRow) string { return e.Server }, "realtime"); ok {
		ref, _ := find(res.Fanout, func(e BurstRow) string { return e.Server }, "gws")
		cf, _ := find(res.Fanout, func(e BurstRow) string { return e.Server }, "centrifuge")
		checks = append(checks,
			check{"fanout burst, deliveries/s vs bare gws", "≥ 5×", div(rt.PerSec, ref.PerSec), func(v float64) bool { return at(v) && v >= 5 }},
			check{"fanout burst, deliveries/s vs centrifuge", "≥ 1.5×", div(rt.PerSec, cf.PerSec), func(v float64) bool { return at(v) && v >= 1.5 }})
	}
	if rt, ok := find(res.Paced, func(e PacedRow) string { return e.Server }, "realtime"); ok {
		ref, _ := find(res.Paced, func(e PacedRow) string { return e.Server }, "gws")
		checks = append(checks, check{"paced fanout, p99 vs bare gws", "≤ 1.2×", div(rt.P99, ref.P99), func(v float64) bool { return at(v) && v <= 1.2 }})
	}
	if h, ok := find(res.Fanout, func(e BurstRow) string { return e.Server }, "realtime-history"); ok {
		rt, _ := find(res.Fanout, func(e BurstRow) string { return e.Server }, "realtime")
		checks = append(checks, check{"fanout burst, rooms with history vs without", "report", div(h.PerSec, rt.PerSec), func(v float64) bool { return at(v) }})
	}
	if h, ok := find(res.Cluster, func(e BurstRow) string { return e.Server }, "realtime-history"); ok {
		rt, _ := find(res.Cluster, func(e BurstRow) string { return e.Server }, "realtime")
		checks = append(checks, check{"cluster fanout, rooms with history vs without", "report", div(h.PerSec, rt.PerSec), func(v float64) bool { return at(v) }})
	}
	if rt, ok := find(res.Idle, func(e IdleRow) string { return e.Server }, "realtime"); ok {
		ref, _ := find(res.Idle, func(e IdleRow) string { return e.Server }, "gws")
		checks = append(checks, check{"idle, memory per connection vs bare gws", "≤ 1.3×", div(rt.PerConn, ref.PerConn), func(v float64) bool { return at(v) && v <= 1.3 }})
	}
	if rt, ok := find(res.Cluster, func(e BurstRow) string { return e.Server }, "realtime"); ok {
		single, _ := find(res.Fanout, func(e BurstRow) string { return e.Server }, "realtime")
		checks = append(checks, check{"cluster fanout vs our single instance", "≥ 0.8×", div(rt.PerSec, single.PerSec), func(v float64) bool { return at(v) && v >= 0.8 }})
		for _, peer := range []string{"centrifuge", "socketio"} {
			if pc, ok := find(res.Cluster, func(e BurstRow) string { return e.Server }, peer); ok {
				checks = append(checks, check{"cluster fanout vs " + peer + "'s Redis mode", "> 1×", div(rt.PerSec, pc.PerSec), func(v float64) bool { return at(v) && v > 1 }})
			}
		}
	}
	if len(checks) == 0 {
		return
	}
	p("### Targets\n\n| workload | target | measured | met |\n|---|---|---:|---|\n")
	for _, c := range checks {
		mark := "no"
		if c.ok(c.got) {
			mark = "yes"
		}
		got := "–"
		if c.got > 0 {
			got = fmt.Sprintf("%.2f×", c.got)
		}
		p("| %s | %s | %s | %s |\n", c.what, c.target, got, mark)
	}
	p("\n")
}

func div(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

// spread formats the range of xs.
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return fmt.Sprintf(format+"–"+format, lo, hi)
}
