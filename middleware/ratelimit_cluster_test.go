package middleware_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	lredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// clusterInstance is one instance: a mux with Auth and a cluster-wide limit
// on lim, and an unlimited-per-socket "act" event.
func clusterInstance(t *testing.T, cfg realtime.Config, cl *middleware.ClusterLimit) *realtimetest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet().Logger
	}
	mux := realtime.New(cfg)
	mux.Use(middleware.RequestID, middleware.Auth(headerAuth), middleware.RateLimit(middleware.RateLimitOpts{Cluster: cl}))
	mux.On("act", ok)
	return realtimetest.NewServer(t, mux)
}

// sumBursts sends n events from each client, in one frame each, and adds
// up the outcomes; every refusal must carry a positive retryAfterMs.
func sumBursts(t *testing.T, clients []*realtimetest.Client, n int) (passed, limited int) {
	t.Helper()
	for _, cl := range clients {
		p, l, retry := outcome(t, burst(t, cl, "act", n))
		if l > 0 && retry <= 0 {
			t.Fatalf("retryAfterMs = %v, want > 0", retry)
		}
		passed += p
		limited += l
	}
	return passed, limited
}

// (c) With ulule/limiter's memory store: one user on three sockets shares
// one budget of 10 a minute; another user has their own; anonymous
// sockets share their address's; a Key function chooses any other key.
func TestRateLimitClusterMemoryStore(t *testing.T) {
	lim := limiter.New(memory.NewStore(), limiter.Rate{Period: time.Minute, Limit: 10})
	srv := clusterInstance(t, realtime.Config{}, &middleware.ClusterLimit{Limiter: lim})

	u1 := []*realtimetest.Client{
		realtimetest.MustDial(t, srv.URL("/"), as("u1")),
		realtimetest.MustDial(t, srv.URL("/"), as("u1")),
		realtimetest.MustDial(t, srv.URL("/"), as("u1")),
	}
	if p, l := sumBursts(t, u1, 6); p != 10 || l != 8 {
		t.Fatalf("u1 on 3 sockets: %d of 18 passed, %d limited; want exactly 10", p, l)
	}
	u2 := realtimetest.MustDial(t, srv.URL("/"), as("u2"))
	if p, _ := sumBursts(t, []*realtimetest.Client{u2}, 6); p != 6 {
		t.Fatalf("u2: %d of 6 passed; u1's budget leaked onto u2", p)
	}
	anon := []*realtimetest.Client{
		realtimetest.MustDial(t, srv.URL("/"), nil),
		realtimetest.MustDial(t, srv.URL("/"), nil),
	}
	if p, _ := sumBursts(t, anon, 7); p != 10 {
		t.Fatalf("anonymous sockets of one address: %d of 14 passed, want 10", p)
	}

	t.Run("Key", func(t *testing.T) {
		lim := limiter.New(memory.NewStore(), limiter.Rate{Period: time.Minute, Limit: 4})
		srv := clusterInstance(t, realtime.Config{}, &middleware.ClusterLimit{
			Limiter: lim,
			Key:     func(c *realtime.Ctx) string { return "event:" + c.Event() },
		})
		a := realtimetest.MustDial(t, srv.URL("/"), as("a"))
		b := realtimetest.MustDial(t, srv.URL("/"), as("b"))
		if p, _ := sumBursts(t, []*realtimetest.Client{a, b}, 3); p != 4 {
			t.Fatalf("two users on one key: %d of 6 passed, want 4", p)
		}
	})
}

// (c) With ulule/limiter's Redis store, two instances (two muxes, two
// servers, two Redis clients) count a user once: five sockets across them
// share exactly 10 events.
func TestRateLimitClusterRedisStore(t *testing.T) {
	c1, prefix := redistest.Client(t)
	c2, _ := redistest.Client(t)
	instance := func(client goredis.UniversalClient) *realtimetest.Server {
		store, err := lredis.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: prefix + "limiter"})
		if err != nil {
			t.Fatal(err)
		}
		lim := limiter.New(store, limiter.Rate{Period: time.Minute, Limit: 10})
		return clusterInstance(t, realtime.Config{}, &middleware.ClusterLimit{Limiter: lim})
	}
	a, b := instance(c1), instance(c2)
	var sockets []*realtimetest.Client
	for i := range 5 {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		sockets = append(sockets, realtimetest.MustDial(t, srv.URL("/"), as("u1")))
	}
	if p, l := sumBursts(t, sockets, 4); p != 10 || l != 10 {
		t.Fatalf("u1 on 5 sockets over 2 instances: %d of 20 passed, %d limited; want exactly 10", p, l)
	}
	// The count is in Redis, under the store's prefix.
	n, err := c1.Get(testkit.Context(t), prefix+"limiter:user:u1").Int()
	if err != nil || n != 20 {
		t.Fatalf("Redis counter = %d, %v; want 20 hits", n, err)
	}
	// Another user, on the other instance, is not affected.
	u2 := realtimetest.MustDial(t, b.URL("/"), as("u2"))
	if p, _ := sumBursts(t, []*realtimetest.Client{u2}, 5); p != 5 {
		t.Fatalf("u2: %d of 5 passed", p)
	}
}

// When the limiter's Redis is down, events are let through (fail-open) and
// each one logs a warning with its event's attributes.
func TestRateLimitClusterRedisDownFailsOpen(t *testing.T) {
	rs := redistest.StartServer(t)
	client := goredis.NewClient(&goredis.Options{Addr: rs.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	store, err := lredis.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: "rttest-down"})
	if err != nil {
		t.Fatal(err)
	}
	lim := limiter.New(store, limiter.Rate{Period: time.Minute, Limit: 3})
	sink := &testkit.LogBuffer{}
	srv := clusterInstance(t, realtime.Config{Logger: slog.New(slog.NewJSONHandler(sink, nil))},
		&middleware.ClusterLimit{Limiter: lim})
	cl := realtimetest.MustDial(t, srv.URL("/"), as("u1"))

	if p, l := sumBursts(t, []*realtimetest.Client{cl}, 4); p != 3 || l != 1 {
		t.Fatalf("with Redis up: %d passed, %d limited; want 3 and 1", p, l)
	}
	if strings.Contains(sink.String(), "unavailable") {
		t.Fatalf("warning while Redis was up: %s", sink)
	}
	rs.Stop()
	for i := range 5 {
		if _, err := cl.Request(testkit.Context(t), "act", nil); err != nil {
			t.Fatalf("event %d with Redis down: %v; want it let through", i, err)
		}
	}
	var warnings int
	for _, l := range sink.JSONLines(t) {
		if l["msg"] != "cluster rate limit unavailable; event let through" {
			continue
		}
		warnings++
		if l["level"] != "WARN" || l["event"] != "act" || l["userId"] != "u1" || l["socketId"] != cl.SocketID ||
			l["requestId"] == "" || l["error"] == "" {
			t.Fatalf("warning line: %v", l)
		}
	}
	if warnings != 5 {
		t.Fatalf("%d warnings for 5 events let through:\n%s", warnings, sink)
	}
}
