package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lolyjs/realtime/bench/internal/client"
	"github.com/lolyjs/realtime/bench/internal/load"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture the tool runs on.
const clockTicks = 100

// launcher starts the servers under test as child processes, pinned to the
// server CPU.
type launcher struct {
	self      string // this binary
	serverCPU int    // -1: not pinned
	node      string
	socketio  string // directory of the Socket.IO server
	redis     string
	prefix    string
}

// proc is one running server process.
type proc struct {
	kind string
	addr string
	cmd  *exec.Cmd
	logs *tailBuffer
	done chan struct{}
}

// start launches a server of kind; with cluster set it joins the others
// through Redis as instance.
func (l *launcher) start(spec, instance string, cluster bool) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	kind, bin, alt := strings.Cut(spec, "@")
	if !alt {
		bin = l.self
	}
	var argv []string
	if kind == "socketio" {
		argv = []string{l.node, "--expose-gc", filepath.Join(l.socketio, "server.js"), "--addr", addr}
		if cluster {
			argv = append(argv, "--redis", l.redis, "--prefix", l.prefix)
		}
	} else {
		argv = []string{bin, "serve", "-kind", kind, "-addr", addr, "-prefix", l.prefix}
		if cluster {
			argv = append(argv, "-redis", l.redis, "-instance", instance)
		}
	}
	if l.serverCPU >= 0 {
		// taskset execs the server: the child's pid is the server's.
		argv = append([]string{"taskset", "-c", strconv.Itoa(l.serverCPU)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOGC=100")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logs := &tailBuffer{max: 8 << 10}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	p := &proc{kind: spec, addr: addr, cmd: cmd, logs: logs, done: make(chan struct{})}
	markOurs(cmd.Process.Pid)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.TrimSpace(sc.Text()) == "ready" {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-ready:
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready:\n%s", kind, logs.String())
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s was not ready within 30s:\n%s", kind, logs.String())
	}
	return p, nil
}

// stop ends the process it started: SIGTERM, then SIGKILL after a grace.
func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// rss returns the process's resident memory (VmRSS), in bytes.
func (p *proc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// cpu returns the CPU time the process has used, user and system.
func (p *proc) cpu() time.Duration {
	d, _ := procCPU(p.cmd.Process.Pid)
	return d
}

func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields restart after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle asks the server to collect its garbage and give memory back, then
// waits for it to go quiet.
func (p *proc) settle() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/debug/gc", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	time.Sleep(500 * time.Millisecond)
}

// inside asks a Go server for its own account of its memory.
func (p *proc) inside() (load.Inside, bool) {
	var in load.Inside
	if protoOf(p.kind) == client.SocketIO {
		return in, false
	}
	resp, err := http.Get("http://" + p.addr + "/debug/mem")
	if err != nil {
		return in, false
	}
	defer resp.Body.Close()
	return in, json.NewDecoder(resp.Body).Decode(&in) == nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// cpuWindow samples, between two instants, the CPU time of the server
// processes, of this process, and of every other process on the machine
// (the noise: another job running during a measurement).
type cpuWindow struct {
	procs      []*proc
	srv0, srv1 time.Duration
	self0      time.Duration
	self1      time.Duration
	others0    map[int]time.Duration
	other      time.Duration
	wall       time.Duration
}

// ours lists the processes that are part of the measurement; the others
// are noise.
var (
	oursMu sync.Mutex
	ours   = map[int]bool{}
)

func markOurs(pid int) {
	oursMu.Lock()
	ours[pid] = true
	oursMu.Unlock()
}

func startCPU(procs ...*proc) *cpuWindow {
	w := &cpuWindow{procs: procs, self0: selfCPU(), others0: othersCPU()}
	for _, p := range procs {
		w.srv0 += p.cpu()
	}
	return w
}

func (w *cpuWindow) stop(wall time.Duration) {
	w.self1 = selfCPU()
	for _, p := range w.procs {
		w.srv1 += p.cpu()
	}
	for pid, d := range othersCPU() {
		w.other += d - w.others0[pid]
	}
	w.wall = wall
}

// server, load and noise are the shares of one core used, in percent.
func (w *cpuWindow) server() float64 { return pct(w.srv1-w.srv0, w.wall) }
func (w *cpuWindow) load() float64   { return pct(w.self1-w.self0, w.wall) }
func (w *cpuWindow) noise() float64  { return pct(w.other, w.wall) }

func pct(d, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * d.Seconds() / wall.Seconds()
}

// othersCPU returns the CPU time used so far by every process that is not
// part of the measurement.
func othersCPU() map[int]time.Duration {
	out := make(map[int]time.Duration)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	self := os.Getpid()
	oursMu.Lock()
	defer oursMu.Unlock()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || ours[pid] {
			continue
		}
		if d, err := procCPU(pid); err == nil {
			out[pid] = d
		}
	}
	return out
}

// busyShare returns the share of the machine's CPU capacity that was busy
// over d, from /proc/stat.
func busyShare(d time.Duration) float64 {
	read := func() (busy, total int64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total
	}
	b0, t0 := read()
	time.Sleep(d)
	b1, t1 := read()
	if t1 <= t0 {
		return 0
	}
	return float64(b1-b0) / float64(t1-t0)
}

// waitQuiet waits, for at most max, until the machine is idle (below 5% of
// its capacity over a second), so that a measurement does not start while
// another job runs. It reports whether it was.
func waitQuiet(max time.Duration) bool {
	deadline := time.Now().Add(max)
	for {
		if busyShare(time.Second) < 0.05 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
