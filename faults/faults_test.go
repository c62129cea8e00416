// Package faults tests a realtime cluster made of real processes: two
// server processes (./internal/server, built by the tests with go build) and
// a private redis-server, killed, stopped and restarted under the clients'
// feet. The tests run with the rest (go test ./...); they skip when
// redis-server is missing, unless REQUIRE_REDIS=1.
package faults_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "realtime-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

var (
	buildOnce sync.Once
	buildErr  error
	serverBin string
)

// server builds ./internal/server once per test binary, with the race
// detector when the tests have it, so the processes are checked too.
func server(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		serverBin = filepath.Join(binDir, "server")
		args := []string{"build", "-o", serverBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./internal/server")
		// The go command of the toolchain running the tests, when it is
		// not first on PATH.
		goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goCmd); err != nil {
			goCmd = "go"
		}
		out, err := exec.Command(goCmd, args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./internal/server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return serverBin
}

// proc is one server process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	addr string
	id   string
	out  *testkit.LogBuffer
	done chan struct{}
	err  error
}

type procOpts struct {
	redisURL, prefix         string
	presenceTTL              time.Duration
	pingInterval, pingTimout time.Duration
	history                  int  // messages kept per room
	persist                  bool // the cluster's Redis keeps what it acknowledged
	presence                 bool
}

// start runs a server process and waits until it listens.
func start(t *testing.T, name string, o procOpts) *proc {
	t.Helper()
	args := []string{"-redis", o.redisURL, "-prefix", o.prefix, "-id", name}
	if o.presenceTTL > 0 {
		args = append(args, "-presence-ttl", o.presenceTTL.String())
	}
	if o.presence {
		args = append(args, "-presence")
	}
	if o.pingInterval > 0 {
		args = append(args, "-ping-interval", o.pingInterval.String(), "-ping-timeout", o.pingTimout.String())
	}
	if o.history > 0 {
		args = append(args, "-history", fmt.Sprint(o.history))
	}
	cmd := exec.Command(server(t), args...)
	// A race-built server would sleep a second before exiting.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	p := &proc{t: t, name: name, cmd: cmd, out: &testkit.LogBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.out, "stdout:", line)
			if addr, ok := strings.CutPrefix(line, "READY "); ok {
				ready <- addr
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector fired in %s", name)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out.String())
		}
	})
	select {
	case line := <-ready:
		f := strings.Fields(line)
		p.addr, p.id = f[0], f[1]
	case <-p.done:
		t.Fatalf("%s exited before listening: %v\n%s", name, p.err, p.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not listen within 30s:\n%s", name, p.out.String())
	}
	return p
}

func (p *proc) url(user string) string {
	return "ws://" + p.addr + "/wss/?user=" + user
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig syscall.Signal, within time.Duration) error {
	p.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		p.t.Fatalf("%s still running %v after %v", p.name, within, sig)
		return nil
	}
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

type debugInfo struct {
	Instance   string `json:"instance"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heapInuse"`
}

func (p *proc) debug() debugInfo {
	p.t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.addr + "/debug")
	if err != nil {
		p.t.Fatalf("%s /debug: %v", p.name, err)
	}
	defer resp.Body.Close()
	var d debugInfo
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		p.t.Fatalf("%s /debug: %v", p.name, err)
	}
	// The HTTP client's idle connection is not counted against us, but
	// close it anyway.
	_, _ = io.Copy(io.Discard, resp.Body)
	c.CloseIdleConnections()
	return d
}

// cluster is a private redis-server and two instances on it.
type cluster struct {
	redis *redistest.Server
	a, b  *proc
	opts  procOpts
}

func newCluster(t *testing.T, o procOpts) *cluster {
	t.Helper()
	startRedis := redistest.StartServer
	if o.persist {
		startRedis = redistest.StartPersistentServer
	}
	rs := startRedis(t)
	o.redisURL = rs.URL()
	o.prefix = "faults:" + t.Name() + ":"
	c := &cluster{redis: rs, opts: o}
	c.a = start(t, "a", o)
	c.b = start(t, "b", o)
	return c
}

func dial(t *testing.T, url string) *realtimetest.Client {
	t.Helper()
	cl, err := realtimetest.Dial(testkit.ContextWithin(t, 20*time.Second), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// online returns the sorted user list of a room as cl's instance sees it.
func online(t *testing.T, cl *realtimetest.Client, room string) string {
	t.Helper()
	return string(testkit.RequestWithin(t, 20*time.Second, cl, "online", map[string]string{"room": room}))
}

// waitOnline polls until cl's instance lists want in room, and returns how
// long that took.
func waitOnline(t *testing.T, cl *realtimetest.Client, room, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := online(t, cl, room)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("online(%q) = %s after %v, want %s", room, got, within, want)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// said is the data of a "said" event.
type said struct {
	From string `json:"from"`
	Seq  int64  `json:"seq"`
	Text string `json:"text"`
	Via  string `json:"via"`
}

func decodeSaid(t *testing.T, m realtimetest.Message) said {
	t.Helper()
	var s said
	if err := m.Decode(&s); err != nil {
		t.Fatalf("said %s: %v", m.Raw, err)
	}
	return s
}
