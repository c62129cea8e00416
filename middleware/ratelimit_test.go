package middleware_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// rateMux is a mux with RequestID and RateLimit(opts), an unlimited "ping"
// and the given extra events.
func rateMux(t *testing.T, cfg realtime.Config, opts middleware.RateLimitOpts, events map[string]realtime.Event) *realtimetest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet().Logger
	}
	mux := realtime.New(cfg)
	mux.Use(middleware.RequestID, middleware.RateLimit(opts))
	if events == nil {
		events = map[string]realtime.Event{}
	}
	events["ping"] = realtime.Event{Handler: ok}
	mux.Route(realtime.Route{Events: events})
	return realtimetest.NewServer(t, mux)
}

// (a) With no bucket of its own, RateLimit gives each socket the mux's
// Config.Limits: of 20 events sent at once, the burst of 5 pass; each socket
// has its own bucket.
func TestRateLimitPerSocketFromConfigLimits(t *testing.T) {
	srv := rateMux(t, realtime.Config{Limits: realtime.Limits{EventsPerSecond: 5, Burst: 5}}, middleware.RateLimitOpts{}, nil)
	for i := range 2 {
		cl := realtimetest.MustDial(t, srv.URL("/"), nil)
		passed, limited, retry := outcome(t, burst(t, cl, "ping", 20))
		// 5 per second refill one token per 200ms: a slow run may see one.
		if passed < 5 || passed > 6 || limited != 20-passed {
			t.Fatalf("socket %d: %d of 20 passed, %d limited; want the burst of 5", i, passed, limited)
		}
		if retry <= 0 {
			t.Fatalf("retryAfterMs = %v, want > 0", retry)
		}
		if n := cl.Count(realtime.EventError); n != limited {
			t.Fatalf("%d __loly:error events for %d refusals", n, limited)
		}
	}
}

// PerSocket overrides Config.Limits, both ways; a negative EventsPerSecond,
// in either place, turns the per-socket bucket off.
func TestRateLimitPerSocketOverrideAndOff(t *testing.T) {
	for _, tc := range []struct {
		name       string
		limits     realtime.Limits
		perSocket  *realtime.Rate
		send       int
		minP, maxP int
	}{
		{"PerSocket looser than Limits", realtime.Limits{EventsPerSecond: 5, Burst: 5}, &realtime.Rate{EventsPerSecond: 100, Burst: 50}, 40, 40, 40},
		{"PerSocket stricter than Limits", realtime.Limits{}, &realtime.Rate{EventsPerSecond: 2, Burst: 3}, 20, 3, 4},
		{"PerSocket burst defaults to the rate", realtime.Limits{}, &realtime.Rate{EventsPerSecond: 3.5}, 20, 4, 5},
		{"PerSocket off", realtime.Limits{EventsPerSecond: 5, Burst: 5}, &realtime.Rate{EventsPerSecond: -1}, 300, 300, 300},
		{"Limits off", realtime.Limits{EventsPerSecond: -1}, nil, 300, 300, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rateMux(t, realtime.Config{Limits: tc.limits}, middleware.RateLimitOpts{PerSocket: tc.perSocket}, nil)
			cl := realtimetest.MustDial(t, srv.URL("/"), nil)
			passed, _, _ := outcome(t, burst(t, cl, "ping", tc.send))
			if passed < tc.minP || passed > tc.maxP {
				t.Fatalf("%d of %d passed, want %d to %d", passed, tc.send, tc.minP, tc.maxP)
			}
		})
	}
}

// (b) Two events with their own limits have independent buckets on one
// socket, and each socket has its own.
func TestRateLimitPerEventBucketsIndependent(t *testing.T) {
	slow := &realtime.Rate{EventsPerSecond: 1, Burst: 3}
	srv := rateMux(t, realtime.Config{}, middleware.RateLimitOpts{}, map[string]realtime.Event{
		"a": {Handler: ok, RateLimit: slow},
		"b": {Handler: ok, RateLimit: slow},
	})
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	// One frame, a and b interleaved.
	var frame bytes.Buffer
	ids := map[int64]string{}
	for i := range 20 {
		ev := "a"
		if i%2 == 1 {
			ev = "b"
		}
		id := cl.NextAckID()
		ids[id] = ev
		fmt.Fprintf(&frame, `{"event":%q,"id":%d}`+"\n", ev, id)
	}
	if err := cl.SendRaw(frame.Bytes()); err != nil {
		t.Fatal(err)
	}
	passed := map[string]int{}
	for id, ev := range ids {
		m, err := cl.WaitAck(testkit.Context(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Error == nil {
			passed[ev]++
		} else if m.Error.Code != realtime.CodeRateLimit {
			t.Fatalf("unexpected error %s", m.Raw)
		}
	}
	for _, ev := range []string{"a", "b"} {
		if passed[ev] < 3 || passed[ev] > 4 {
			t.Fatalf("%s: %d of 10 passed, want its own burst of 3 (passed: %v)", ev, passed[ev], passed)
		}
	}
	// Events without a limit of their own are untouched by the others'.
	if p, _, _ := outcome(t, burst(t, cl, "ping", 10)); p != 10 {
		t.Fatalf("ping: %d of 10 passed", p)
	}
	other := realtimetest.MustDial(t, srv.URL("/"), nil)
	if p, _, _ := outcome(t, burst(t, other, "a", 5)); p != 3 {
		t.Fatalf("another socket: %d of 5 passed, want its own burst of 3", p)
	}
}

// Connects and disconnects pass RateLimit and take no token: with a bucket
// of one token that never refills, the socket connects, its first event
// passes, the second is refused, and its disconnect handler runs.
func TestRateLimitLifecycleEventsPass(t *testing.T) {
	var connects, disconnects atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.RateLimit(middleware.RateLimitOpts{
		PerSocket: &realtime.Rate{EventsPerSecond: 0.001, Burst: 1},
	}))
	mux.OnConnect(func(*realtime.Ctx) error { connects.Add(1); return nil })
	mux.OnDisconnect(func(*realtime.Ctx) error { disconnects.Add(1); return nil })
	mux.On("ping", ok)
	srv := realtimetest.NewServer(t, mux)
	for range 3 {
		cl := realtimetest.MustDial(t, srv.URL("/"), nil)
		if _, err := cl.Request(testkit.Context(t), "ping", nil); err != nil {
			t.Fatalf("first event after connect: %v", err)
		}
		_, err := cl.Request(testkit.Context(t), "ping", nil)
		e := wantError(t, err, realtime.CodeRateLimit)
		if retry, _ := e.Details.(map[string]any)["retryAfterMs"].(float64); retry < 900_000 {
			t.Fatalf("retryAfterMs = %v for a token every 1000s", retry)
		}
		cl.Close()
	}
	testkit.Eventually(t, "disconnect handlers", func() bool { return disconnects.Load() == 3 })
	if connects.Load() != 3 {
		t.Fatalf("connects = %d", connects.Load())
	}
}

// spamMux has "spam", limited to one event ever, and an unlimited "echo"
// (the per-socket bucket is off).
func spamMux(t *testing.T, opts middleware.RateLimitOpts) *realtimetest.Server {
	t.Helper()
	opts.PerSocket = &realtime.Rate{EventsPerSecond: -1}
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.RateLimit(opts))
	mux.Handle("spam", realtime.Event{Handler: ok, RateLimit: &realtime.Rate{EventsPerSecond: 0.001, Burst: 1}})
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Data()) })
	return realtimetest.NewServer(t, mux)
}

func mustEcho(t *testing.T, cl *realtimetest.Client) {
	t.Helper()
	got, err := cl.Request(testkit.Context(t), "echo", "alive")
	if err != nil || string(got) != `"alive"` {
		t.Fatalf("echo: %s, %v", got, err)
	}
}

// Sustained abuse: the refusal that reaches AbuseThreshold closes the socket
// with 1008, not one earlier; the default threshold is 500; a negative one
// never closes.
func TestRateLimitAbuseCloses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int
		tolerated int // refusals that leave the socket open
	}{
		{"threshold 20", 20, 19},
		{"default 500", 0, 499},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := spamMux(t, middleware.RateLimitOpts{AbuseThreshold: tc.threshold})
			cl := realtimetest.MustDial(t, srv.URL("/"), nil)
			passed, limited, _ := outcome(t, burst(t, cl, "spam", tc.tolerated+1))
			if passed != 1 || limited != tc.tolerated {
				t.Fatalf("%d passed, %d limited", passed, limited)
			}
			mustEcho(t, cl)
			if cl.Closed() {
				t.Fatalf("closed after %d refusals", tc.tolerated)
			}
			if err := cl.Emit("spam", nil); err != nil {
				t.Fatal(err)
			}
			code, err := cl.WaitClosed(testkit.Context(t))
			if err != nil || code != realtime.ClosePolicy {
				t.Fatalf("after one more refusal: close %d, %v; want 1008", code, err)
			}
		})
	}
	t.Run("negative never closes", func(t *testing.T) {
		srv := spamMux(t, middleware.RateLimitOpts{AbuseThreshold: -1})
		cl := realtimetest.MustDial(t, srv.URL("/"), nil)
		for range 3 {
			outcome(t, burst(t, cl, "spam", 400))
		}
		mustEcho(t, cl)
		if cl.Closed() {
			t.Fatal("closed with AbuseThreshold -1")
		}
	})
	t.Run("window", func(t *testing.T) {
		srv := spamMux(t, middleware.RateLimitOpts{AbuseThreshold: 5, AbuseWindow: 300 * time.Millisecond})
		cl := realtimetest.MustDial(t, srv.URL("/"), nil)
		if p, l, _ := outcome(t, burst(t, cl, "spam", 5)); p != 1 || l != 4 {
			t.Fatalf("%d passed, %d limited", p, l)
		}
		time.Sleep(400 * time.Millisecond)
		// A new window: four more refusals are tolerated again...
		if _, l, _ := outcome(t, burst(t, cl, "spam", 4)); l != 4 {
			t.Fatalf("%d limited", l)
		}
		mustEcho(t, cl)
		// ...and the fifth within it closes.
		_ = cl.Emit("spam", nil)
		if code, err := cl.WaitClosed(testkit.Context(t)); code != realtime.ClosePolicy {
			t.Fatalf("close %d, %v", code, err)
		}
	})
}

// The limiter state lives on the socket and goes with it: once a limited
// socket has closed, nothing keeps it reachable.
func TestRateLimitStateFreedWithSocket(t *testing.T) {
	grabbed := make(chan weak.Pointer[realtime.Socket], 1)
	cfg := quiet()
	// A stopped timer stays in the runtime's timer heap until it would have
	// fired, and the heartbeat timer's function holds the connection: a
	// short interval keeps that window out of the way.
	cfg.PingInterval = 100 * time.Millisecond
	mux := realtime.New(cfg)
	mux.Use(middleware.RequestID, middleware.RateLimit(middleware.RateLimitOpts{
		PerSocket: &realtime.Rate{EventsPerSecond: 1, Burst: 2},
	}))
	mux.Handle("grab", realtime.Event{
		RateLimit: &realtime.Rate{EventsPerSecond: 1, Burst: 2},
		Handler: func(c *realtime.Ctx) error {
			select {
			case grabbed <- weak.Make(c.Socket()):
			default:
			}
			return nil
		},
	})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	if p, l, _ := outcome(t, burst(t, cl, "grab", 4)); p != 2 || l != 2 {
		t.Fatalf("%d passed, %d limited", p, l)
	}
	wp := <-grabbed
	cl.Close()
	testkit.Eventually(t, "the closed socket (and its limiter state) to be collected", func() bool {
		runtime.GC()
		return wp.Value() == nil
	})
}
