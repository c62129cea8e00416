package loly_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/cluster"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/loly"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
	sredis "github.com/lolyjs/realtime/store/redis"
)

// tsState issues the Redis commands of loly's RedisStateStore
// (packages/loly-core/modules/realtime/state/redis-store.ts), one method per
// method of it, with its prefix and its JSON encoding: the TypeScript side
// of a Redis shared during a migration.
type tsState struct {
	r      goredis.UniversalClient
	prefix string
}

func (s tsState) key(k string) string { return s.prefix + k }

func (s tsState) set(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, _ := json.Marshal(v) // JSON.stringify
	if ttl > 0 {
		return s.r.Do(ctx, "PSETEX", s.key(key), ttl.Milliseconds(), b).Err()
	}
	return s.r.Set(ctx, s.key(key), b, 0).Err()
}

// get is JSON.parse of GET, null (found false) when it fails.
func (s tsState) get(ctx context.Context, key string, v any) (bool, error) {
	b, err := s.r.Get(ctx, s.key(key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return json.Unmarshal(b, v) == nil, nil
}

func (s tsState) incr(ctx context.Context, key string, by int64) (int64, error) {
	if by == 1 {
		return s.r.Incr(ctx, s.key(key)).Result()
	}
	return s.r.IncrBy(ctx, s.key(key), by).Result()
}

func (s tsState) decr(ctx context.Context, key string, by int64) (int64, error) {
	if by == 1 {
		return s.r.Decr(ctx, s.key(key)).Result()
	}
	return s.r.DecrBy(ctx, s.key(key), by).Result()
}

func (s tsState) listPush(ctx context.Context, key string, v any, maxLen int) error {
	b, _ := json.Marshal(v)
	if err := s.r.LPush(ctx, s.key(key), b).Err(); err != nil {
		return err
	}
	if maxLen > 0 {
		// The script returns nothing, which go-redis reports as Nil.
		err := s.r.Eval(ctx, "redis.call('ltrim', KEYS[1], 0, ARGV[1])", []string{s.key(key)}, fmt.Sprint(maxLen-1)).Err()
		if !errors.Is(err, goredis.Nil) {
			return err
		}
	}
	return nil
}

// listRange is LRANGE with each element JSON.parse'd, failures left out.
func (s tsState) listRange(ctx context.Context, key string, start, end int64) ([]any, error) {
	vals, err := s.r.LRange(ctx, s.key(key), start, end).Result()
	if err != nil {
		return nil, err
	}
	var out []any
	for _, v := range vals {
		var x any
		if json.Unmarshal([]byte(v), &x) == nil && x != nil {
			out = append(out, x)
		}
	}
	return out, nil
}

func (s tsState) setAdd(ctx context.Context, key, m string) error {
	return s.r.SAdd(ctx, s.key(key), m).Err()
}

func (s tsState) setRem(ctx context.Context, key, m string) error {
	return s.r.SRem(ctx, s.key(key), m).Err()
}

func (s tsState) setMembers(ctx context.Context, key string) ([]string, error) {
	return s.r.SMembers(ctx, s.key(key)).Result()
}

// tsPresence is loly's PresenceManager over a tsState: it prefixes its keys
// with the prefix the state store adds again.
type tsPresence struct {
	st     tsState
	prefix string
}

func (p tsPresence) addSocketForUser(ctx context.Context, userID, socketID string) error {
	if err := p.st.setAdd(ctx, p.prefix+"userSockets:"+userID, socketID); err != nil {
		return err
	}
	return p.st.set(ctx, p.prefix+"socketUser:"+socketID, userID, 0)
}

// sharedRedis starts a private redis-server, so that the test can use
// loly's real prefix, and returns a client and the Go side's State on the
// default store/redis (prefix "loly:rt:").
func sharedRedis(t *testing.T) (*redistest.Server, goredis.UniversalClient, tsState, *loly.State) {
	srv := redistest.StartServer(t)
	r := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = r.Close() })
	st, err := sredis.New(r, sredis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return srv, r, tsState{r: r, prefix: "loly:rt:"}, loly.NewState(st)
}

var _ = row("`loly:rt:<key>` holding a value", func(t *testing.T) {
	_, r, ts, goState := sharedRedis(t)
	ctx := testkit.Context(t)
	// TypeScript writes, Go reads.
	if err := ts.set(ctx, "profile", map[string]any{"name": "Ana", "age": 30}, 0); err != nil {
		t.Fatal(err)
	}
	_ = ts.set(ctx, "motd", "hola", 0)
	var p struct {
		Name string `json:"name"`
		Age  int    `json:"age"`
	}
	var motd string
	if found, err := goState.Get(ctx, "profile", &p); !found || err != nil || p.Name != "Ana" || p.Age != 30 {
		t.Fatalf("Go read %+v, %v, %v", p, found, err)
	}
	if found, err := goState.Get(ctx, "motd", &motd); !found || err != nil || motd != "hola" {
		t.Fatalf("Go read %q, %v, %v", motd, found, err)
	}
	// Go writes, TypeScript reads; a ttl is a ttl for both.
	if err := goState.Set(ctx, "session", map[string]any{"room": "general"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	var sess map[string]any
	if found, _ := ts.get(ctx, "session", &sess); !found || sess["room"] != "general" {
		t.Fatalf("TypeScript read %v", sess)
	}
	if ttl := r.PTTL(ctx, "loly:rt:session").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
	if raw := r.Get(ctx, "loly:rt:session").Val(); raw != `{"room":"general"}` {
		t.Fatalf("in Redis: %q", raw)
	}
})

var _ = row("`loly:rt:<key>` holding a counter", func(t *testing.T) {
	_, r, ts, goState := sharedRedis(t)
	ctx := testkit.Context(t)
	_ = ts.set(ctx, "counter:value", 0, 0) // the counter example's reset
	_, _ = ts.incr(ctx, "counter:value", 1)
	_, _ = ts.incr(ctx, "counter:value", 5)
	if n, err := goState.Incr(ctx, "counter:value", 2); n != 8 || err != nil {
		t.Fatalf("Go Incr = %d, %v", n, err)
	}
	if n, err := goState.Store().Incr(ctx, "counter:value", -1); n != 7 || err != nil {
		t.Fatalf("Store.Incr = %d, %v", n, err)
	}
	if n, err := ts.decr(ctx, "counter:value", 3); n != 4 || err != nil {
		t.Fatalf("TypeScript decr = %d, %v", n, err)
	}
	var n int
	if found, _ := ts.get(ctx, "counter:value", &n); !found || n != 4 {
		t.Fatalf("TypeScript get = %d", n)
	}
	if _, err := goState.Decr(ctx, "counter:value", 1); err != nil {
		t.Fatal(err)
	}
	if found, _ := goState.Get(ctx, "counter:value", &n); !found || n != 3 {
		t.Fatalf("Go Get = %d", n)
	}
	if raw := r.Get(ctx, "loly:rt:counter:value").Val(); raw != "3" {
		t.Fatalf("in Redis: %q", raw)
	}
})

var _ = row("`loly:rt:<key>` holding a list", func(t *testing.T) {
	_, r, ts, goState := sharedRedis(t)
	ctx := testkit.Context(t)
	// Both servers push to one history, as the chat example does.
	for i := range 6 {
		msg := map[string]any{"id": i, "text": fmt.Sprint("m", i)}
		var err error
		if i%2 == 0 {
			err = ts.listPush(ctx, "chat:messages", msg, 4)
		} else {
			err = goState.ListPush(ctx, "chat:messages", msg, 4)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := func(elems []json.RawMessage) []int {
		var out []int
		for _, e := range elems {
			var m struct{ ID int }
			_ = json.Unmarshal(e, &m)
			out = append(out, m.ID)
		}
		return out
	}
	goView, err := goState.ListRange(ctx, "chat:messages", 0, 20)
	if err != nil || !slices.Equal(ids(goView), []int{5, 4, 3, 2}) {
		t.Fatalf("Go reads %v, %v; want the newest four, newest first", ids(goView), err)
	}
	tsView, err := ts.listRange(ctx, "chat:messages", 0, 20)
	if err != nil || len(tsView) != 4 || tsView[0].(map[string]any)["id"] != 5.0 || tsView[3].(map[string]any)["id"] != 2.0 {
		t.Fatalf("TypeScript reads %v, %v", tsView, err)
	}
	if n := r.LLen(ctx, "loly:rt:chat:messages").Val(); n != 4 {
		t.Fatalf("LLEN %d", n)
	}
})

var _ = row("`loly:rt:<key>` holding a set", func(t *testing.T) {
	_, _, ts, goState := sharedRedis(t)
	ctx := testkit.Context(t)
	_ = ts.setAdd(ctx, "online", "ana")
	_ = goState.SetAdd(ctx, "online", "bo")
	_ = ts.setAdd(ctx, "online", "cy")
	_ = goState.SetRem(ctx, "online", "cy")
	goMembers, _ := goState.SetMembers(ctx, "online")
	tsMembers, _ := ts.setMembers(ctx, "online")
	slices.Sort(goMembers)
	slices.Sort(tsMembers)
	if !slices.Equal(goMembers, []string{"ana", "bo"}) || !slices.Equal(tsMembers, goMembers) {
		t.Fatalf("Go %v, TypeScript %v", goMembers, tsMembers)
	}
	_ = ts.setRem(ctx, "online", "bo")
	if m, _ := goState.SetMembers(ctx, "online"); !slices.Equal(m, []string{"ana"}) {
		t.Fatalf("after TypeScript's setRem: %v", m)
	}
})

var _ = row("`loly:rt:loly:rt:userSockets:<userId>`, `loly:rt:loly:rt:socketUser:<socketId>` (loly's presence; loly prefixed these keys twice)", func(t *testing.T) {
	srv, r, ts, _ := sharedRedis(t)
	ctx := testkit.Context(t)
	tsp := tsPresence{st: ts, prefix: "loly:rt:"}
	_ = tsp.addSocketForUser(ctx, "u9", "sio-abc")
	if r.Exists(ctx, "loly:rt:loly:rt:userSockets:u9", "loly:rt:loly:rt:socketUser:sio-abc").Val() != 2 {
		keys, _ := r.Keys(ctx, "*").Result()
		t.Fatalf("loly's presence keys are not where the guide says: %v", keys)
	}
	// Readable from Go under the doubled prefix.
	st, _ := sredis.New(r, sredis.Options{Prefix: "loly:rt:loly:rt:"})
	if m, _ := st.SetMembers(ctx, "userSockets:u9"); !slices.Equal(m, []string{"sio-abc"}) {
		t.Fatalf("userSockets %v", m)
	}
	var uid string
	if found, err := loly.NewState(st).Get(ctx, "socketUser:sio-abc", &uid); !found || err != nil || uid != "u9" {
		t.Fatalf("socketUser %q, %v, %v", uid, found, err)
	}
	// The mux's presence, on the same Redis, neither lists loly's user nor
	// writes loly's keys.
	backends, err := cluster.Redis(ctx, srv.URL(), cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backends.Close() })
	cfg := quiet()
	backends.Configure(&cfg)
	gsrv := serve(t, cfg, realtime.Chain(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		return &realtime.User{ID: "u1"}, nil
	})), realtime.Route{Namespace: "/p", Events: map[string]realtime.Event{
		"users": {Handler: func(c *realtime.Ctx) error {
			u, err := c.In().Users(c.Context())
			if err != nil {
				return err
			}
			return c.Ack(u)
		}},
	}})
	if got := testkit.Request(t, dial(t, gsrv, "/p"), "users", nil); string(got) != `["u1"]` {
		t.Fatalf("users %s", got)
	}
	keys, _ := r.Keys(ctx, "loly:rt:loly:rt:*").Result()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"loly:rt:loly:rt:socketUser:sio-abc", "loly:rt:loly:rt:userSockets:u9"}) {
		t.Fatalf("keys under loly's presence prefix: %v", keys)
	}
})

// clusterPair starts two instances on one Redis through cluster.Redis with
// opts, each serving /c with an event that emits to the namespace.
func clusterPair(t *testing.T, url string, opts cluster.Options) (a, b *realtimetest.Server) {
	instance := func() *realtimetest.Server {
		backends, err := cluster.Redis(testkit.Context(t), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		cfg := quiet()
		backends.Configure(&cfg)
		srv := serve(t, cfg, nil, realtime.Route{Namespace: "/c", Events: map[string]realtime.Event{
			"ping": pingEvent,
			"all":  {Handler: func(c *realtime.Ctx) error { return c.Emit("news", "from Go") }},
			"keep": {Handler: func(c *realtime.Ctx) error { return c.Store().Set(c.Context(), "k", []byte("v"), 0) }},
		}})
		t.Cleanup(func() { srv.Close(); _ = backends.Close() })
		return srv
	}
	return instance(), instance()
}

var _ = row("`scale: { mode: \"cluster\", adapter: { name: \"redis\", url } }`", func(t *testing.T) {
	srv, _, _, _ := sharedRedis(t)
	a, b := clusterPair(t, srv.URL(), cluster.Options{})
	there := dial(t, b, "/c")
	testkit.Request(t, dial(t, a, "/c"), "all", nil)
	if d := wantEventData(t, there, "news"); d != `"from Go"` {
		t.Fatalf("news %s", d)
	}
	if _, err := cluster.Redis(testkit.Context(t), "", cluster.Options{}); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("no URL: %v", err)
	}
})

var _ = row("`stateStore: { name: \"redis\", prefix }`", func(t *testing.T) {
	srv, r, _, _ := sharedRedis(t)
	a, _ := clusterPair(t, srv.URL(), cluster.Options{Prefix: "myapp:"})
	testkit.Request(t, dial(t, a, "/c"), "keep", nil)
	if v := r.Get(testkit.Context(t), "myapp:k").Val(); v != "v" {
		t.Fatalf("myapp:k = %q", v)
	}
	// Or a store given directly.
	st, _ := sredis.New(r, sredis.Options{Prefix: "direct:"})
	cfg := quiet()
	cfg.Store = st
	d := serve(t, cfg, nil, realtime.Route{Namespace: "/c", Events: map[string]realtime.Event{
		"keep": {Handler: func(c *realtime.Ctx) error { return c.Store().Set(c.Context(), "k", []byte("w"), 0) }},
	}})
	testkit.Request(t, dial(t, d, "/c"), "keep", nil)
	if v := r.Get(testkit.Context(t), "direct:k").Val(); v != "w" {
		t.Fatalf("direct:k = %q", v)
	}
})

var _ = row("Emits do not cross between TypeScript and Go instances.", func(t *testing.T) {
	srv, r, _, _ := sharedRedis(t)
	a, b := clusterPair(t, srv.URL(), cluster.Options{})
	// What loly's Socket.IO Redis adapter listens to and publishes on.
	sub := r.PSubscribe(testkit.Context(t), "socket.io#*")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	there := dial(t, b, "/c")
	// A TypeScript instance's broadcast to /c does not reach Go sockets...
	if err := r.Publish(testkit.Context(t), "socket.io#/c#", "\x93\xa5emitter").Err(); err != nil {
		t.Fatal(err)
	}
	ch := sub.Channel()
	select {
	case <-ch: // the one just published
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription missed loly's channel")
	}
	// ...and a Go emit crosses Go instances only.
	testkit.Request(t, dial(t, a, "/c"), "all", nil)
	if d := wantEventData(t, there, "news"); d != `"from Go"` {
		t.Fatalf("news %s", d)
	}
	barrier(t, there)
	if evs := there.Events(); len(evs) != 0 {
		t.Fatalf("unexpected events %v", evs)
	}
	select {
	case m := <-ch:
		t.Fatalf("a Go emit was published on loly's channel %s", m.Channel)
	case <-time.After(200 * time.Millisecond):
	}
})
