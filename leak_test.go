package realtime_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// After 1,000 sockets connected, joined a room, were rate-limited, emitted
// and left, the server is back to its baseline: the same goroutines, and a
// heap within a generous margin of where it started.
func TestConnectDisconnectCyclesLeaveNothing(t *testing.T) {
	const cycles = 1000
	mux := realtime.New(quiet(realtime.Config{Limits: realtime.Limits{ConnectionsPerIP: -1}}))
	mux.Use(middleware.RequestID, middleware.Recoverer, middleware.Auth(bindHeaderUser),
		middleware.Validate, middleware.Guard, middleware.RateLimit(middleware.RateLimitOpts{}))
	mux.OnConnect(func(c *realtime.Ctx) error { return c.Join("room-" + c.UserID()) })
	mux.On("say", func(c *realtime.Ctx) error {
		return c.ToRoom("room-"+c.UserID()).Emit("said", c.SocketID())
	})
	srv := realtimetest.NewServer(t, mux)

	cycle := func(i int) {
		// A context per cycle, released at once: testkit.Context's would stay
		// registered with the test until it ends, and count as growth.
		ctx, cancel := context.WithTimeout(bg(), 5*time.Second)
		defer cancel()
		cl, err := realtimetest.Dial(ctx, srv.URL("/"),
			&realtimetest.Options{Header: map[string][]string{"X-User": {fmt.Sprintf("u%d", i%50)}}})
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if _, err := cl.Request(ctx, "say", nil); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		cl.Close()
	}
	// Warm up pools and lazily started goroutines, then take the baseline
	// once the warm-up sockets are gone.
	for i := range 20 {
		cycle(i)
	}
	users := mux.In("/")
	settled := func() bool {
		u, _ := users.Users(bg())
		return len(u) == 0
	}
	testkit.Eventually(t, "the warm-up sockets to leave", settled)
	baseG := stableGoroutines()
	baseHeap := heapInuse()

	start := time.Now()
	for i := range cycles {
		cycle(i)
	}
	elapsed := time.Since(start)
	testkit.Eventually(t, "every socket to leave", settled)

	var g int
	deadline := time.Now().Add(5 * time.Second)
	for {
		g = stableGoroutines()
		if g <= baseG || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	heap := heapInuse()
	t.Logf("%d cycles in %v; goroutines %d -> %d; heap %s -> %s", cycles, elapsed.Round(time.Millisecond), baseG, g, mib(baseHeap), mib(heap))
	if g > baseG {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after %d cycles, %d before:\n%s", g, cycles, baseG, buf[:runtime.Stack(buf, true)])
	}
	if grew := growth(baseHeap, heap); grew > 2<<20 {
		t.Fatalf("heap grew by %s over %d cycles", mib(grew), cycles)
	}
}

// stableGoroutines counts goroutines once two counts in a row agree.
func stableGoroutines() int {
	prev := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == prev {
			return n
		}
		prev = n
	}
	return prev
}

// Every package of the module that has tests checks, in its TestMain, that
// no goroutine outlives them (goleak.VerifyTestMain).
func TestEveryTestedPackageChecksForLeaks(t *testing.T) {
	tested := map[string]bool{}
	guarded := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		tested[dir] = true
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "goleak.VerifyTestMain(") {
			guarded[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tested) < 5 {
		t.Fatalf("found tests in only %d directories: %v", len(tested), tested)
	}
	for dir := range tested {
		if !guarded[dir] {
			t.Errorf("package %s has tests but no goleak.VerifyTestMain in a TestMain", dir)
		}
	}
}
