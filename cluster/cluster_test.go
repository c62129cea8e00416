package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/cluster"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// instance is one realtime server of a test cluster, with its own Redis
// client.
type instance struct {
	srv      *realtimetest.Server
	backends *cluster.Backends
}

// userAuth binds the user named by ?user=.
func userAuth(c *realtime.Ctx) (*realtime.User, error) {
	if id := c.Request().URL.Query().Get("user"); id != "" {
		return &realtime.User{ID: id}, nil
	}
	return nil, nil
}

type clusterOpts struct {
	url         string
	prefix      string
	presenceTTL time.Duration
	logger      *slog.Logger
	instanceID  string
	history     realtime.History // of every room of /chat
	presence    *realtime.Presence
}

// startInstance starts one instance on the Redis of o.url, with the events the
// acceptance tests use.
func startInstance(t *testing.T, o clusterOpts) *instance {
	t.Helper()
	b, err := cluster.Redis(context.Background(), o.url, cluster.Options{Prefix: o.prefix})
	if err != nil {
		t.Fatal(err)
	}
	cfg := realtime.Config{PresenceTTL: o.presenceTTL, Logger: o.logger, InstanceID: o.instanceID}
	b.Configure(&cfg)
	mux := realtime.New(cfg)
	mux.Use(middleware.RequestID, middleware.Recoverer, middleware.Auth(userAuth))
	type room struct {
		Room string `json:"room"`
		Text string `json:"text"`
		To   string `json:"to"`
		By   int64  `json:"by"`
	}
	mux.Route(realtime.Route{Namespace: "/chat", History: o.history, Presence: o.presence, Events: map[string]realtime.Event{
		"join":  {Handler: realtime.Typed(func(c *realtime.Ctx, r room) error { return c.Join(r.Room) })},
		"leave": {Handler: realtime.Typed(func(c *realtime.Ctx, r room) error { return c.Leave(r.Room) })},
		"say": {Handler: realtime.Typed(func(c *realtime.Ctx, r room) error {
			return c.ToRoom(r.Room).Emit("said", map[string]string{"from": c.UserID(), "text": r.Text})
		})},
		"dm": {Handler: realtime.Typed(func(c *realtime.Ctx, r room) error {
			return c.ToUser(r.To).Emit("dm", map[string]string{"from": c.UserID(), "text": r.Text})
		})},
		"shout": {Handler: realtime.Typed(func(c *realtime.Ctx, r room) error {
			return c.Broadcast("shout", r.Text)
		})},
		"online": {Handler: realtime.Typed(func(c *realtime.Ctx, r room) error {
			// Socket.IO clients ask with {} for the namespace.
			target := c.In()
			if r.Room != "" {
				target = c.ToRoom(r.Room)
			}
			users, err := target.Users(c.Context())
			if err != nil {
				return err
			}
			return c.Ack(users)
		})},
		"increment": {Handler: realtime.Typed(func(c *realtime.Ctx, r room) error {
			n, err := c.Store().Incr(c.Context(), "counter:value", r.By)
			if err != nil {
				return err
			}
			return c.Emit("counter-update", map[string]int64{"count": n})
		})},
	}})
	in := &instance{srv: realtimetest.NewServer(t, mux), backends: b}
	t.Cleanup(func() {
		in.srv.Close()
		_ = b.Close()
	})
	return in
}

func (in *instance) dial(t *testing.T, user string) *realtimetest.Client {
	t.Helper()
	url := in.srv.URL("/chat")
	if user != "" {
		url += "?user=" + user
	}
	return realtimetest.MustDial(t, url, nil)
}

func twoInstances(t *testing.T, o clusterOpts) (*instance, *instance) {
	if o.url == "" {
		redistest.Client(t) // skips or fails when Redis is missing
		o.url = redistest.URL()
	}
	if o.prefix == "" {
		o.prefix = redistest.Prefix(t)
	}
	t.Cleanup(func() { cleanKeys(o.url, o.prefix) })
	return startInstance(t, o), startInstance(t, o)
}

// cleanKeys deletes what a test left in the shared Redis.
func cleanKeys(url, prefix string) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys, _ := c.Keys(ctx, prefix+"*").Result()
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}

func assertNone(t *testing.T, event string, clients ...*realtimetest.Client) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	for _, cl := range clients {
		if n := cl.Count(event); n != 0 {
			t.Fatalf("client %s got %d unexpected %q event(s)", cl.SocketID, n, event)
		}
	}
}

// Seed acceptance test 1: a broadcast to a room reaches its members on both
// instances, and no one else.
func TestAcceptance1RoomBroadcastAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, clusterOpts{})
	memberA, memberB := a.dial(t, "ua"), b.dial(t, "ub")
	outsiderA, outsiderB := a.dial(t, "oa"), b.dial(t, "ob")
	testkit.Request(t, memberA, "join", map[string]string{"room": "r1"})
	testkit.Request(t, memberB, "join", map[string]string{"room": "r1"})
	testkit.Request(t, outsiderB, "join", map[string]string{"room": "r2"})

	testkit.Request(t, memberA, "say", map[string]string{"room": "r1", "text": "from a"})
	testkit.Request(t, outsiderB, "say", map[string]string{"room": "r1", "text": "from b"})
	// Both messages reach both members; across senders and instances their
	// order is not promised.
	for _, cl := range []*realtimetest.Client{memberA, memberB} {
		var got []string
		for range 2 {
			m, err := cl.Wait(testkit.Context(t), "said")
			if err != nil {
				t.Fatal(err)
			}
			var said map[string]string
			_ = m.Decode(&said)
			got = append(got, said["text"])
		}
		sort.Strings(got)
		if strings.Join(got, ",") != "from a,from b" {
			t.Fatalf("member got %q", got)
		}
	}
	assertNone(t, "said", outsiderA, outsiderB, memberA, memberB)

	// Broadcast ("all but the sender") works across instances.
	testkit.Request(t, memberA, "shout", map[string]string{"text": "hey"})
	for _, cl := range []*realtimetest.Client{memberB, outsiderA, outsiderB} {
		if _, err := cl.Wait(testkit.Context(t), "shout"); err != nil {
			t.Fatal(err)
		}
	}
	assertNone(t, "shout", memberA)

	// After the last member on b leaves, b no longer gets r1's traffic.
	testkit.Request(t, memberB, "leave", map[string]string{"room": "r1"})
	testkit.Request(t, memberA, "say", map[string]string{"room": "r1", "text": "after leave"})
	if _, err := memberA.Wait(testkit.Context(t), "said"); err != nil {
		t.Fatal(err)
	}
	assertNone(t, "said", memberB)
}

// Seed acceptance test 2: a shared counter stays consistent. Twenty clients
// on two instances send fifty increments each, concurrently.
func TestAcceptance2SharedCounter(t *testing.T) {
	a, b := twoInstances(t, clusterOpts{})
	const clients, each = 20, 50
	var cls []*realtimetest.Client
	for i := 0; i < clients; i++ {
		in := a
		if i%2 == 1 {
			in = b
		}
		cls = append(cls, in.dial(t, fmt.Sprintf("c%d", i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if _, err := cl.Request(context.Background(), "increment", map[string]int{"by": 1}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, err := a.backends.Store.Get(testkit.Context(t), "counter:value")
	if err != nil || string(v) != "1000" {
		t.Fatalf("stored counter = %s, %v; want 1000", v, err)
	}
	// Every client sees every update exactly once, and its final count is
	// 1000. (Updates from different senders may arrive in either order, so
	// the count a client shows is the highest it has seen.)
	for _, cl := range cls {
		seen := make(map[int64]bool)
		var highest int64
		for len(seen) < clients*each {
			m, err := cl.Wait(testkit.Context(t), "counter-update")
			if err != nil {
				t.Fatalf("client %s after %d updates: %v", cl.SocketID, len(seen), err)
			}
			var u struct{ Count int64 }
			_ = m.Decode(&u)
			if seen[u.Count] {
				t.Fatalf("client %s got update %d twice", cl.SocketID, u.Count)
			}
			seen[u.Count] = true
			highest = max(highest, u.Count)
		}
		if highest != clients*each {
			t.Fatalf("client %s: highest update %d", cl.SocketID, highest)
		}
	}
	assertNone(t, "counter-update", cls...)
}

func users(t *testing.T, cl *realtimetest.Client, room string) string {
	t.Helper()
	return string(testkit.Request(t, cl, "online", map[string]string{"room": room}))
}

// waitUsers polls until the presence list seen by cl is want.
func waitUsers(t *testing.T, cl *realtimetest.Client, room, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := users(t, cl, room)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("presence of %q = %s, want %s after %v", room, got, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Seed acceptance test 3: the presence list is the same on every instance,
// through joins and leaves, and loses the users of an instance that dies
// without cleanup within the presence ttl.
func TestAcceptance3PresenceAcrossInstances(t *testing.T) {
	const ttl = 900 * time.Millisecond
	a, b := twoInstances(t, clusterOpts{presenceTTL: ttl})
	u1 := a.dial(t, "u1")
	u2 := b.dial(t, "u2")
	u1bis := b.dial(t, "u1") // u1 on both instances
	anon := a.dial(t, "")

	for _, cl := range []*realtimetest.Client{u1, u2, anon} {
		if got := users(t, cl, ""); got != `["u1","u2"]` {
			t.Fatalf("namespace presence = %s", got)
		}
	}
	testkit.Request(t, u1, "join", map[string]string{"room": "lobby"})
	testkit.Request(t, u2, "join", map[string]string{"room": "lobby"})
	testkit.Request(t, u1bis, "join", map[string]string{"room": "lobby"})
	for _, cl := range []*realtimetest.Client{u1, u2} {
		if got := users(t, cl, "lobby"); got != `["u1","u2"]` {
			t.Fatalf("room presence = %s", got)
		}
	}
	// u1 leaves on a but is still in the room on b.
	testkit.Request(t, u1, "leave", map[string]string{"room": "lobby"})
	if got := users(t, u2, "lobby"); got != `["u1","u2"]` {
		t.Fatalf("after one of u1's sockets left: %s", got)
	}
	testkit.Request(t, u1bis, "leave", map[string]string{"room": "lobby"})
	if got := users(t, u1, "lobby"); got != `["u2"]` {
		t.Fatalf("after u1 left everywhere: %s", got)
	}
	u2.Close()
	waitUsers(t, u1, "", `["u1"]`, time.Second)

	// Drop instance b without cleanup: its Redis connection dies, so its
	// heartbeat stops; its users must vanish from a's view within the ttl.
	u3 := b.dial(t, "u3")
	waitUsers(t, u1, "", `["u1","u3"]`, time.Second)
	if err := b.backends.Client.Close(); err != nil {
		t.Fatal(err)
	}
	took := waitUsers(t, u1, "", `["u1"]`, 3*ttl)
	t.Logf("dead instance's users vanished after %v (ttl %v)", took, ttl)
	_ = u3
}

// ToUser reaches every socket of a user on every instance, and no one else.
func TestToUserAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, clusterOpts{})
	sender := a.dial(t, "s")
	u1a, u1b := a.dial(t, "u1"), b.dial(t, "u1")
	u2b := b.dial(t, "u2")
	testkit.Request(t, sender, "dm", map[string]string{"to": "u1", "text": "hi u1"})
	for _, cl := range []*realtimetest.Client{u1a, u1b} {
		if _, err := cl.Wait(testkit.Context(t), "dm"); err != nil {
			t.Fatal(err)
		}
	}
	assertNone(t, "dm", u2b, sender, u1a, u1b)
	// After u1's socket on b closes, b drops the user's topic and a message
	// still reaches the socket on a.
	u1b.Close()
	testkit.Request(t, sender, "dm", map[string]string{"to": "u1", "text": "again"})
	if _, err := u1a.Wait(testkit.Context(t), "dm"); err != nil {
		t.Fatal(err)
	}
}

// With Redis stopped, local delivery keeps working and cluster operations
// fail with an error the client sees; when Redis is back, delivery across
// instances resumes on its own.
func TestRedisOutage(t *testing.T) {
	rs := redistest.StartServer(t)
	a, b := twoInstances(t, clusterOpts{url: rs.URL(), presenceTTL: 900 * time.Millisecond})
	localMate, sender := a.dial(t, "m"), a.dial(t, "s")
	remote := b.dial(t, "r")
	for _, cl := range []*realtimetest.Client{localMate, sender, remote} {
		testkit.Request(t, cl, "join", map[string]string{"room": "x"})
	}
	testkit.Request(t, sender, "say", map[string]string{"room": "x", "text": "before"})
	if _, err := remote.Wait(testkit.Context(t), "said"); err != nil {
		t.Fatal(err)
	}
	_, _ = localMate.Wait(testkit.Context(t), "said")
	_, _ = sender.Wait(testkit.Context(t), "said")

	rs.Stop()
	// Emits are forwarded in the background: the one whose publish fails is
	// not told, but the emits after it fail at once, so the handler sees the
	// outage. Every one of them reaches the local member.
	var err error
	sent := 0
	for tries := 0; tries < 50; tries++ {
		_, err = sender.Request(testkit.Context(t), "say", map[string]string{"room": "x", "text": "during"})
		sent++
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var e *realtime.Error
	if !errors.As(err, &e) || e.Code != realtime.CodeInternal || strings.Contains(e.Message, "redis") {
		t.Fatalf("emit during outage: %v, want INTERNAL_ERROR without internals", err)
	}
	for range sent {
		if _, err := localMate.Wait(testkit.Context(t), "said"); err != nil {
			t.Fatalf("local delivery during the outage: %v", err)
		}
	}
	// Local-only events still work.
	testkit.Request(t, sender, "join", map[string]string{"room": "y"})

	rs.Start()
	deadline := time.Now().Add(15 * time.Second)
	for remote.Count("said") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("cross-instance delivery did not resume after Redis came back")
		}
		_, _ = sender.Request(testkit.Context(t), "say", map[string]string{"room": "x", "text": "after"})
		time.Sleep(200 * time.Millisecond)
	}
	// Presence is rewritten after Redis restarted empty.
	waitUsers(t, remote, "x", `["m","r","s"]`, 5*time.Second)
}

func TestRedisURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"", "REDIS_URL is empty"},
		{"http://x", "not a redis://"},
		{"redis://:secretpw@127.0.0.1:1/0", "unreachable"},
		{"redis://127.0.0.1:6379/0?bogus=1", "malformed"},
	} {
		_, err := cluster.Redis(context.Background(), tc.url, cluster.Options{ConnectTimeout: 500 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%q: err = %v, want %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Fatalf("password in error: %v", err)
		}
	}
	if _, err := cluster.Redis(testkit.Context(t), "", cluster.Options{}); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("cluster without a Redis URL: %v", err)
	}
}
