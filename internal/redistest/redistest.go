// Package redistest gives tests a real Redis: the shared server named by
// REDIS_URL (default redis://127.0.0.1:6379/0), or a private redis-server
// process that a test may stop and restart to simulate an outage.
//
// When no Redis can be reached, tests are skipped, unless REQUIRE_REDIS=1
// is set (as CI does), in which case they fail.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var dbCounter atomic.Int64

// Unavailable skips the test for want of a Redis feature, or fails it when
// REQUIRE_REDIS=1 (as CI sets): no test is skipped there.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	unavailable(tb, format, args...)
}

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("REQUIRE_REDIS") == "1" {
		tb.Fatalf("redis required (REQUIRE_REDIS=1) but unavailable: %s", msg)
	}
	tb.Skipf("redis unavailable: %s", msg)
}

// URL returns the URL of the shared test Redis.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Client returns a client for the shared test Redis, closed when the test
// ends, and a key prefix unique to this test so tests never see each
// other's keys.
func Client(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatalf("redistest: bad REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		unavailable(tb, "%v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c, Prefix(tb)
}

// Prefix returns a key prefix unique to this test run and test.
func Prefix(tb testing.TB) string {
	return fmt.Sprintf("rttest:%d:%d:%s:", os.Getpid(), dbCounter.Add(1), tb.Name())
}

// Server is a private redis-server process.
type Server struct {
	tb      testing.TB
	Port    int
	dir     string
	cmd     *exec.Cmd
	persist bool
}

// StartServer starts a private redis-server on a free loopback port, which
// keeps nothing on disk: a restart finds it empty. It is stopped when the
// test ends.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	return startServer(tb, false)
}

// StartPersistentServer starts a private redis-server that writes every
// command to its append-only file before answering it (appendfsync always):
// a restart finds everything it acknowledged.
func StartPersistentServer(tb testing.TB) *Server {
	tb.Helper()
	return startServer(tb, true)
}

func startServer(tb testing.TB, persist bool) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(tb, "redis-server not on PATH")
	}
	_ = bin
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{tb: tb, Port: port, dir: tb.TempDir(), persist: persist}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Start starts (or restarts) the server process on its port and waits until
// it answers.
func (s *Server) Start() {
	s.tb.Helper()
	if s.cmd != nil {
		return
	}
	aof := []string{"--appendonly", "no"}
	if s.persist {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", ""}, aof...)
	args = append(args, "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redistest: redis-server on %s did not answer: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pause freezes the server process (SIGSTOP): its connections stay open but
// nothing is answered, as with a stalled server or a network that drops
// packets. Resume undoes it.
func (s *Server) Pause() {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.tb.Fatalf("redistest: pause redis-server: %v", err)
	}
}

// Resume lets a paused server run again, with its data and connections.
func (s *Server) Resume() {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.tb.Fatalf("redistest: resume redis-server: %v", err)
	}
}

// Stop kills the server process and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
