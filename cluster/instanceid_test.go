package cluster_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/cluster"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
)

// newMux builds a cluster mux on its own Redis client, closed when the test
// ends, without starting it.
func newMux(t *testing.T, prefix, id string, ttl time.Duration, log *slog.Logger) *realtime.Mux {
	t.Helper()
	b, err := cluster.Redis(context.Background(), redistest.URL(), cluster.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	cfg := realtime.Config{InstanceID: id, PresenceTTL: ttl, Logger: log}
	b.Configure(&cfg)
	m := realtime.New(cfg)
	t.Cleanup(func() { _ = b.Close() })
	return m
}

// Processes started together with one instance id: exactly one starts; the
// others are refused with ErrInstanceIDInUse and a message that names the
// fix, and hold nothing (goleak checks that no goroutine is left).
func TestInstanceIDClaimedOnceWhenStartedTogether(t *testing.T) {
	redistest.Client(t)
	prefix := redistest.Prefix(t)
	t.Cleanup(func() { cleanKeys(redistest.URL(), prefix) })
	const n = 4
	muxes := make([]*realtime.Mux, n)
	for i := range muxes {
		// A TTL long enough that the one that started refreshes its
		// registration in time on a loaded machine.
		muxes[i] = newMux(t, prefix, "same", 3*time.Second, nil)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range muxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Start(testkit.Context(t))
		}()
	}
	wg.Wait()
	started := 0
	for i, err := range errs {
		switch {
		case err == nil:
			started++
			t.Cleanup(func() { _ = muxes[i].Shutdown(context.Background()) })
		case !errors.Is(err, realtime.ErrInstanceIDInUse) || !strings.Contains(err.Error(), `"same"`) || !strings.Contains(err.Error(), "InstanceID"):
			t.Fatalf("mux %d: %v, want ErrInstanceIDInUse naming the id and Config.InstanceID", i, err)
		}
	}
	if started != 1 {
		t.Fatalf("%d of %d processes with one instance id started, want exactly 1: %v", started, n, errs)
	}
}

// A process whose id is taken by another while it could not reach Redis
// (its alive key expired and the other claimed it) stops writing presence,
// logs an error naming the problem, and takes its id back once the other
// lets it go, rewriting its users.
func TestInstanceIDTakenWhileCutOff(t *testing.T) {
	rc, prefix := redistest.Client(t)
	t.Cleanup(func() { cleanKeys(redistest.URL(), prefix) })
	logs := &logRecorder{}
	const ttl = 600 * time.Millisecond
	a, b := startInstance(t, clusterOpts{url: redistest.URL(), prefix: prefix, presenceTTL: ttl, logger: slog.New(logs), instanceID: "a"}),
		startInstance(t, clusterOpts{url: redistest.URL(), prefix: prefix, presenceTTL: ttl})
	ua, ub := a.dial(t, "ua"), b.dial(t, "ub")
	waitUsers(t, ub, "", `["ua","ub"]`, 5*time.Second)

	// Another process holds "a" now.
	alive := prefix + "presence:alive:a"
	if err := rc.Set(testkit.Context(t), alive, "someone-else 7", ttl).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !logs.has("ERROR", "held by another process", "instance=a") {
		if time.Now().After(deadline) {
			t.Fatalf("no error about the taken id:\n%s", logs)
		}
		// The other process keeps it alive.
		if err := rc.Set(testkit.Context(t), alive, "someone-else 8", ttl).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl / 10)
	}
	if v, _ := rc.Get(testkit.Context(t), alive).Result(); v != "someone-else 8" {
		t.Fatalf("the process overwrote the other's alive key: %q", v)
	}
	// The other one goes: a takes its id back and lists its users again.
	if err := rc.Del(testkit.Context(t), alive, prefix+"presence:a:ns:/chat").Err(); err != nil {
		t.Fatal(err)
	}
	waitUsers(t, ub, "", `["ua","ub"]`, 10*time.Second)
	if !logs.has("held by this process again", "instance=a") {
		t.Fatalf("no word of taking the id back:\n%s", logs)
	}
	_ = ua
}
