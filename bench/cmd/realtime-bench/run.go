package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lolyjs/realtime/bench/internal/client"
	"github.com/lolyjs/realtime/bench/internal/load"
	"github.com/lolyjs/realtime/bench/internal/stats"
)

// pinnedEnv marks the process run re-executed under taskset.
const pinnedEnv = "REALTIME_BENCH_PINNED"

type config struct {
	servers   []string
	workloads []string
	reps      int
	echoReps  int

	echoConns      int
	echoWarmup     time.Duration
	echoTime       time.Duration
	fanoutSockets  int
	fanoutBursts   int
	pacedSockets   int
	pacedRate      int
	pacedTime      time.Duration
	idleConns      int
	clusterSockets int
	clusterBursts  int
}

// Results is everything one run measured; it is also written as JSON.
type Results struct {
	Started   time.Time         `json:"started"`
	Machine   string            `json:"machine"`
	Config    map[string]string `json:"config"`
	Echo      []EchoRow         `json:"echo,omitempty"`
	Fanout    []BurstRow        `json:"fanout,omitempty"`
	Paced     []PacedRow        `json:"paced,omitempty"`
	Idle      []IdleRow         `json:"idle,omitempty"`
	Cluster   []BurstRow        `json:"cluster,omitempty"`
	Failures  []string          `json:"failures,omitempty"`
	Noisy     []string          `json:"noisy,omitempty"`
	Duration  time.Duration     `json:"duration"`
	serverCPU int
	loadCPU   int
}

// EchoRow is the median repetition of one server's echo.
type EchoRow struct {
	Server    string  `json:"server"`
	PerSec    float64 `json:"eventsPerSec"`
	P50       float64 `json:"p50Ms"`
	P99       float64 `json:"p99Ms"`
	ServerCPU float64 `json:"serverCpuPct"`
	LoadCPU   float64 `json:"loadCpuPct"`
	Errors    int64   `json:"errors"`
	Reps      []float64
}

// BurstRow is the median burst of one server (or cluster).
type BurstRow struct {
	Server    string  `json:"server"`
	Sockets   int     `json:"sockets"`
	Bursts    int     `json:"broadcasts"`
	PerSec    float64 `json:"deliveriesPerSec"`
	ToLast    float64 `json:"toLastMs"`
	PerFrame  float64 `json:"deliveriesPerFrame"`
	ServerCPU float64 `json:"serverCpuPct"`
	LoadCPU   float64 `json:"loadCpuPct"`
	Errors    int64   `json:"errors"`
	Reps      []float64
}

// PacedRow is the median paced run of one server.
type PacedRow struct {
	Server    string  `json:"server"`
	P50       float64 `json:"p50Ms"`
	P99       float64 `json:"p99Ms"`
	Max       float64 `json:"maxMs"`
	Late      float64 `json:"publisherLateMs"`
	ServerCPU float64 `json:"serverCpuPct"`
	Errors    int64   `json:"errors"`
	Reps      []float64
}

// IdleRow is the median idle measurement of one server.
type IdleRow struct {
	Server  string  `json:"server"`
	Conns   int     `json:"conns"`
	PerConn float64 `json:"bytesPerConn"`
	Before  int64   `json:"rssBefore"`
	After   int64   `json:"rssAfter"`
	// From the Go servers' own account: heap and goroutine stacks.
	HeapPerConn       float64 `json:"heapBytesPerConn,omitempty"`
	StackPerConn      float64 `json:"stackBytesPerConn,omitempty"`
	GoroutinesPerConn float64 `json:"goroutinesPerConn,omitempty"`
	Reps              []float64
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	servers := fs.String("servers", "realtime,centrifuge,socketio", "servers to compare with the bare gws reference (always run): realtime, centrifuge, socketio; kind@path runs that kind from another build of this tool (an A/B comparison)")
	workloads := fs.String("workloads", "echo,fanout,paced,idle,cluster", "workloads: echo, fanout, paced, idle, cluster")
	serverCPU := fs.Int("server-cpu", 0, "CPU the servers are pinned to (-1: not pinned)")
	loadCPU := fs.Int("load-cpu", 1, "CPU the load generator is pinned to (-1: not pinned)")
	redis := fs.String("redis", "", "Redis URL for the cluster workload (skipped without it)")
	socketioDir := fs.String("socketio", "socketio", "directory of the Socket.IO server (with node_modules)")
	node := fs.String("node", "node", "Node.js binary")
	out := fs.String("out", "", "write the results as JSON to this file")
	md := fs.String("md", "", "write the tables as Markdown to this file too")
	quiet := fs.Duration("quiet", 60*time.Second, "before each measurement, wait up to this long for the machine to be idle")
	redisPid := fs.Int("redis-pid", 0, "pid of the Redis server, whose CPU counts as part of the cluster measurement")
	profile := fs.String("profile", "", "directory for CPU profiles of the Go servers (echo, fanout and cluster), taken through their /debug/pprof")
	var cfg config
	fs.IntVar(&cfg.reps, "reps", 3, "repetitions of each measurement, interleaved across servers; the median is reported")
	fs.IntVar(&cfg.echoReps, "echo-reps", 5, "repetitions of the echo measurement (closed loops are the noisiest)")
	fs.IntVar(&cfg.echoConns, "echo-conns", 100, "echo: connections")
	fs.DurationVar(&cfg.echoWarmup, "echo-warmup", time.Second, "echo: warm-up before measuring")
	fs.DurationVar(&cfg.echoTime, "echo-time", 5*time.Second, "echo: measured time")
	fs.IntVar(&cfg.fanoutSockets, "fanout-sockets", 1000, "fanout: sockets in the room")
	fs.IntVar(&cfg.fanoutBursts, "fanout-broadcasts", 200, "fanout: broadcasts sent at once")
	fs.IntVar(&cfg.pacedSockets, "paced-sockets", 1000, "paced: sockets in the room")
	fs.IntVar(&cfg.pacedRate, "paced-rate", 100, "paced: broadcasts per second")
	fs.DurationVar(&cfg.pacedTime, "paced-time", 3*time.Second, "paced: duration")
	fs.IntVar(&cfg.idleConns, "idle-conns", 2000, "idle: connections")
	fs.IntVar(&cfg.clusterSockets, "cluster-sockets", 1000, "cluster: sockets in the room, half on each instance")
	fs.IntVar(&cfg.clusterBursts, "cluster-broadcasts", 200, "cluster: broadcasts sent at once")
	_ = fs.Parse(args)

	if *loadCPU >= 0 && os.Getenv(pinnedEnv) == "" {
		if _, err := exec.LookPath("taskset"); err != nil {
			return errors.New("taskset not found (install util-linux), or run with -load-cpu -1 -server-cpu -1")
		}
		return reexecPinned(*loadCPU)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.servers = append([]string{"gws"}, splitList(*servers)...)
	cfg.servers = slices.Compact(cfg.servers)
	cfg.workloads = splitList(*workloads)
	cfg.reps, cfg.echoReps = max(cfg.reps, 1), max(cfg.echoReps, 1)
	dir, _ := filepath.Abs(*socketioDir)
	l := &launcher{self: self, serverCPU: *serverCPU, node: *node, socketio: dir, redis: *redis,
		prefix: fmt.Sprintf("bench:%d:", os.Getpid())}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res := &Results{Started: time.Now(), Machine: machine(), serverCPU: *serverCPU, loadCPU: *loadCPU, Config: map[string]string{
		"servers": strings.Join(cfg.servers, ","), "reps": strconv.Itoa(cfg.reps), "echoReps": strconv.Itoa(cfg.echoReps),
		"echo":    fmt.Sprintf("%d conns, %v warm-up, %v measured", cfg.echoConns, cfg.echoWarmup, cfg.echoTime),
		"fanout":  fmt.Sprintf("%d sockets x %d broadcasts at once", cfg.fanoutSockets, cfg.fanoutBursts),
		"paced":   fmt.Sprintf("%d sockets, %d/s for %v", cfg.pacedSockets, cfg.pacedRate, cfg.pacedTime),
		"idle":    fmt.Sprintf("%d conns", cfg.idleConns),
		"cluster": fmt.Sprintf("%d sockets over 2 instances x %d broadcasts at once", cfg.clusterSockets, cfg.clusterBursts),
		"pinning": fmt.Sprintf("servers on CPU %d, load on CPU %d", *serverCPU, *loadCPU),
	}}
	r := &runner{cfg: cfg, l: l, res: res, profile: *profile, quiet: *quiet}
	if *redisPid > 0 {
		markOurs(*redisPid)
	}
	if r.profile != "" {
		if err := os.MkdirAll(r.profile, 0o755); err != nil {
			return err
		}
	}
	for _, w := range cfg.workloads {
		if ctx.Err() != nil {
			break
		}
		switch w {
		case "echo":
			r.echo(ctx)
		case "fanout":
			r.fanout(ctx)
		case "paced":
			r.paced(ctx)
		case "idle":
			r.idle(ctx)
		case "cluster":
			if *redis == "" {
				r.fail("cluster: skipped, no -redis URL")
				continue
			}
			r.cluster(ctx)
		default:
			r.fail("unknown workload " + w)
		}
	}
	res.Duration = time.Since(res.Started).Round(time.Second)
	report := res.markdown()
	fmt.Print("\n" + report)
	if *md != "" {
		if err := os.WriteFile(*md, []byte(report), 0o644); err != nil {
			return err
		}
	}
	if *out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func reexecPinned(cpu int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu), self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), pinnedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(syscall.SIGINT) // the child gets it from the terminal too
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		return err
	}
	return nil
}

// protoOf returns the protocol of a server spec: "realtime", or
// "realtime@/path/to/other/realtime-bench" for an A/B comparison of two
// builds in one run.
func protoOf(spec string) client.Protocol {
	kind, _, _ := strings.Cut(spec, "@")
	if kind == "realtime-min" || kind == "realtime-history" {
		return client.Realtime
	}
	return client.Protocol(kind)
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs", model, numCPU())
}

type runner struct {
	quiet   time.Duration
	cfg     config
	l       *launcher
	res     *Results
	profile string
}

// startProfile takes a CPU profile of a Go server for d, in the background;
// wait for it with the returned function.
func (r *runner) startProfile(p *proc, name string, d time.Duration) func() {
	if r.profile == "" || protoOf(p.kind) == client.SocketIO {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		secs := max(1, int(d.Round(time.Second)/time.Second))
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, secs))
		if err != nil {
			r.fail(fmt.Sprintf("profile %s: %v", name, err))
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(r.profile, strings.ReplaceAll(name, "/", "_")+".pprof"))
		if err != nil {
			r.fail(fmt.Sprintf("profile %s: %v", name, err))
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}

func (r *runner) fail(msg string) {
	fmt.Fprintln(os.Stderr, "!!", msg)
	r.res.Failures = append(r.res.Failures, msg)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// interleave runs one measurement per repetition and server, repetitions
// outermost, so that whatever drifts during a run (the machine, the
// hypervisor) affects every server alike. Each measurement waits for the
// machine to be quiet first, and is taken again (up to twice) when other
// processes used more than a sixth of a core during it. A server that
// fails is dropped from the later repetitions.
func interleave[T any](r *runner, name string, kinds []string, reps int, one func(kind string, rep int) (T, float64, error)) map[string][]T {
	out := make(map[string][]T)
	failed := make(map[string]bool)
	for rep := range reps {
		for _, kind := range kinds {
			if failed[kind] {
				continue
			}
			for attempt := 0; ; attempt++ {
				if !waitQuiet(r.quiet) {
					logf("%s %s: the machine is busy with other processes; measuring anyway", name, kind)
				}
				v, noise, err := one(kind, rep)
				if err != nil {
					failed[kind] = true
					r.fail(fmt.Sprintf("%s %s: %v", name, kind, err))
					break
				}
				if noise > 16 && attempt < 2 {
					logf("%s %s rep %d: other processes used %.0f%% of a CPU meanwhile; measuring again", name, kind, rep+1, noise)
					continue
				}
				if noise > 16 {
					r.res.Noisy = append(r.res.Noisy, fmt.Sprintf("%s %s rep %d: other processes used %.0f%% of a CPU", name, kind, rep+1, noise))
				}
				out[kind] = append(out[kind], v)
				break
			}
		}
	}
	return out
}

func (r *runner) echo(ctx context.Context) {
	reps := interleave(r, "echo", r.cfg.servers, r.cfg.echoReps, func(kind string, rep int) (EchoRow, float64, error) {
		p, err := r.l.start(kind, "", false)
		if err != nil {
			return EchoRow{}, 0, err
		}
		defer p.stop()
		var w *cpuWindow
		profiled := func() {}
		stopped := make(chan struct{})
		window := func(from, to time.Time) {
			go func() {
				defer close(stopped)
				time.Sleep(time.Until(from))
				w = startCPU(p)
				if rep == 0 {
					profiled = r.startProfile(p, "echo-"+kind, to.Sub(from))
				}
				time.Sleep(time.Until(to))
				w.stop(to.Sub(from))
			}()
		}
		er, err := load.Echo(ctx, protoOf(kind), p.addr, r.cfg.echoConns, r.cfg.echoWarmup, r.cfg.echoTime, window)
		if err != nil {
			return EchoRow{}, 0, err
		}
		<-stopped
		profiled()
		row := EchoRow{Server: kind, PerSec: er.PerSec, P50: ms(er.Lat.P50), P99: ms(er.Lat.P99),
			ServerCPU: w.server(), LoadCPU: w.load(), Errors: er.Errors}
		logf("echo    %-10s rep %d: %8.0f events/s  p50 %6.2f ms  p99 %6.2f ms  cpu server %3.0f%% load %3.0f%% other %3.0f%%",
			kind, rep+1, row.PerSec, row.P50, row.P99, row.ServerCPU, row.LoadCPU, w.noise())
		return row, w.noise(), nil
	})
	for _, kind := range r.cfg.servers {
		rows := reps[kind]
		if len(rows) == 0 {
			continue
		}
		row := stats.MedianBy(rows, func(e EchoRow) float64 { return e.PerSec })
		row.Reps = mapf(rows, func(e EchoRow) float64 { return e.PerSec })
		row.P50 = stats.Median(mapf(rows, func(e EchoRow) float64 { return e.P50 }))
		row.P99 = stats.Median(mapf(rows, func(e EchoRow) float64 { return e.P99 }))
		r.res.Echo = append(r.res.Echo, row)
	}
}

func mapf[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// burstOnce sets up a room over procs, warms it up with a smaller burst,
// and measures one burst of k broadcasts; with profiling on, it then keeps
// sending bursts for a few seconds under the profiler.
func (r *runner) burstOnce(ctx context.Context, name, kind string, procs []*proc, sockets, k, rep int) (BurstRow, float64, error) {
	addrs := make([]string, len(procs))
	for i, p := range procs {
		addrs[i] = p.addr
	}
	room, err := load.SetupRoom(ctx, protoOf(kind), addrs, sockets)
	if err != nil {
		return BurstRow{}, 0, err
	}
	defer room.Close()
	timeout := 60 * time.Second
	if _, err := room.Burst(max(k/4, 1), timeout); err != nil {
		return BurstRow{}, 0, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(300 * time.Millisecond)
	w := startCPU(procs...)
	br, err := room.Burst(k, timeout)
	w.stop(br.ToLast)
	if err != nil {
		return BurstRow{}, 0, err
	}
	row := BurstRow{Server: kind, Sockets: sockets, Bursts: k, PerSec: br.PerSec, ToLast: ms(br.ToLast), PerFrame: br.PerFrame,
		ServerCPU: w.server(), LoadCPU: w.load(), Errors: br.Errors}
	logf("%-7s %-10s rep %d: %9.0f deliveries/s  last after %7.1f ms  %5.1f per frame  cpu server %3.0f%% load %3.0f%% other %3.0f%%",
		name, kind, rep+1, row.PerSec, row.ToLast, row.PerFrame, row.ServerCPU, row.LoadCPU, w.noise())
	if r.profile != "" && rep == 0 {
		const d = 4 * time.Second
		var waits []func()
		for i, p := range procs {
			waits = append(waits, r.startProfile(p, fmt.Sprintf("%s-%s-%d", name, kind, i), d))
		}
		for end := time.Now().Add(d); time.Now().Before(end); {
			if _, err := room.Burst(k, timeout); err != nil {
				break
			}
		}
		for _, w := range waits {
			w()
		}
	}
	return row, w.noise(), nil
}

func burstRows(kinds []string, reps map[string][]BurstRow) []BurstRow {
	var out []BurstRow
	for _, kind := range kinds {
		rows := reps[kind]
		if len(rows) == 0 {
			continue
		}
		row := stats.MedianBy(rows, func(b BurstRow) float64 { return b.PerSec })
		row.Reps = mapf(rows, func(b BurstRow) float64 { return b.PerSec })
		out = append(out, row)
	}
	return out
}

func (r *runner) fanout(ctx context.Context) {
	reps := interleave(r, "fanout", r.cfg.servers, r.cfg.reps, func(kind string, rep int) (BurstRow, float64, error) {
		p, err := r.l.start(kind, "", false)
		if err != nil {
			return BurstRow{}, 0, err
		}
		defer p.stop()
		return r.burstOnce(ctx, "fanout", kind, []*proc{p}, r.cfg.fanoutSockets, r.cfg.fanoutBursts, rep)
	})
	r.res.Fanout = burstRows(r.cfg.servers, reps)
}

func (r *runner) cluster(ctx context.Context) {
	var kinds []string
	for _, kind := range r.cfg.servers {
		if kind != "gws" { // no cluster mode: the reference is our own single instance
			kinds = append(kinds, kind)
		}
	}
	reps := interleave(r, "cluster", kinds, r.cfg.reps, func(kind string, rep int) (BurstRow, float64, error) {
		a, err := r.l.start(kind, "a", true)
		if err != nil {
			return BurstRow{}, 0, err
		}
		defer a.stop()
		b, err := r.l.start(kind, "b", true)
		if err != nil {
			return BurstRow{}, 0, err
		}
		defer b.stop()
		return r.burstOnce(ctx, "cluster", kind, []*proc{a, b}, r.cfg.clusterSockets, r.cfg.clusterBursts, rep)
	})
	r.res.Cluster = burstRows(kinds, reps)
}

func (r *runner) paced(ctx context.Context) {
	reps := interleave(r, "paced", r.cfg.servers, r.cfg.reps, func(kind string, rep int) (PacedRow, float64, error) {
		p, err := r.l.start(kind, "", false)
		if err != nil {
			return PacedRow{}, 0, err
		}
		defer p.stop()
		room, err := load.SetupRoom(ctx, protoOf(kind), []string{p.addr}, r.cfg.pacedSockets)
		if err != nil {
			return PacedRow{}, 0, err
		}
		defer room.Close()
		timeout := 60 * time.Second
		if _, err := room.Paced(r.cfg.pacedRate, 500*time.Millisecond, timeout); err != nil {
			return PacedRow{}, 0, fmt.Errorf("warm-up: %w", err)
		}
		time.Sleep(300 * time.Millisecond)
		w := startCPU(p)
		t0 := time.Now()
		pr, err := room.Paced(r.cfg.pacedRate, r.cfg.pacedTime, timeout)
		w.stop(time.Since(t0))
		if err != nil {
			return PacedRow{}, 0, err
		}
		row := PacedRow{Server: kind, P50: ms(pr.Lat.P50), P99: ms(pr.Lat.P99), Max: ms(pr.Lat.Max), Late: ms(pr.Late),
			ServerCPU: w.server(), Errors: pr.Errors}
		logf("paced   %-10s rep %d: p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms  publisher late %5.1f ms  cpu server %3.0f%% other %3.0f%%",
			kind, rep+1, row.P50, row.P99, row.Max, row.Late, row.ServerCPU, w.noise())
		return row, w.noise(), nil
	})
	for _, kind := range r.cfg.servers {
		rows := reps[kind]
		if len(rows) == 0 {
			continue
		}
		row := stats.MedianBy(rows, func(x PacedRow) float64 { return x.P99 })
		row.Reps = mapf(rows, func(x PacedRow) float64 { return x.P99 })
		r.res.Paced = append(r.res.Paced, row)
	}
}

func (r *runner) idle(ctx context.Context) {
	reps := interleave(r, "idle", r.cfg.servers, r.cfg.reps, func(kind string, rep int) (IdleRow, float64, error) {
		p, err := r.l.start(kind, "", false)
		if err != nil {
			return IdleRow{}, 0, err
		}
		defer p.stop()
		ir, err := load.Idle(ctx, protoOf(kind), p.addr, r.cfg.idleConns, p.rss, p.settle, p.inside)
		if err != nil {
			return IdleRow{}, 0, err
		}
		if r.profile != "" && rep == 0 && protoOf(kind) != client.SocketIO {
			r.saveHeap(p, "idle-"+kind)
		}
		row := IdleRow{Server: kind, Conns: ir.Conns, PerConn: ir.PerConn, Before: ir.Before, After: ir.After}
		if n := float64(ir.Conns); ir.InsideAfter.Goroutines > 0 {
			row.HeapPerConn = float64(ir.InsideAfter.HeapInuse-ir.InsideBefore.HeapInuse) / n
			row.StackPerConn = float64(ir.InsideAfter.StackInuse-ir.InsideBefore.StackInuse) / n
			row.GoroutinesPerConn = float64(ir.InsideAfter.Goroutines-ir.InsideBefore.Goroutines) / n
		}
		logf("idle    %-10s rep %d: %6.1f KiB per connection (RSS %5.1f -> %5.1f MiB; heap %.1f KiB, stacks %.1f KiB, %.1f goroutines per connection)",
			kind, rep+1, row.PerConn/1024, float64(row.Before)/(1<<20), float64(row.After)/(1<<20), row.HeapPerConn/1024, row.StackPerConn/1024, row.GoroutinesPerConn)
		return row, 0, nil
	})
	for _, kind := range r.cfg.servers {
		rows := reps[kind]
		if len(rows) == 0 {
			continue
		}
		row := stats.MedianBy(rows, func(x IdleRow) float64 { return x.PerConn })
		row.Reps = mapf(rows, func(x IdleRow) float64 { return x.PerConn })
		r.res.Idle = append(r.res.Idle, row)
	}
}

// saveHeap saves a heap profile of a Go server (taken while its idle
// connections are still open).
func (r *runner) saveHeap(p *proc, name string) {
	resp, err := http.Get("http://" + p.addr + "/debug/pprof/heap")
	if err != nil {
		r.fail(fmt.Sprintf("heap profile %s: %v", name, err))
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(r.profile, strings.ReplaceAll(name, "/", "_")+".heap.pprof"))
	if err != nil {
		r.fail(fmt.Sprintf("heap profile %s: %v", name, err))
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}
