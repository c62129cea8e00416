package redis_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/broadcast/broadcasttest"
	"github.com/lolyjs/realtime/broadcast/redis"
	"github.com/lolyjs/realtime/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newCluster gives each broker its own client, as separate processes would
// have, and the whole cluster a prefix unique to the test. protocol, if not
// 0, is the RESP version the clients speak.
func newCluster(sharded bool, protocol int) func(t *testing.T) func() broadcast.Broker {
	return func(t *testing.T) func() broadcast.Broker {
		prefix := redistest.Prefix(t)
		if sharded {
			prefix = "{" + prefix + "}"
		}
		return func() broadcast.Broker {
			var c goredis.UniversalClient
			if protocol == 0 {
				c, _ = redistest.Client(t)
			} else {
				opt, err := goredis.ParseURL(redistest.URL())
				if err != nil {
					t.Fatal(err)
				}
				opt.Protocol = protocol
				c = goredis.NewClient(opt)
				t.Cleanup(func() { _ = c.Close() })
			}
			b, err := redis.New(c, redis.Options{Prefix: prefix, Sharded: sharded})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

func TestConformance(t *testing.T) {
	broadcasttest.Run(t, newCluster(false, 0))
}

// TestConformanceRESP2 checks the older protocol, where pub/sub replies
// (and PING's, used by Subscribe) have other shapes.
func TestConformanceRESP2(t *testing.T) {
	redistest.Client(t) // skips or fails if there is no Redis
	broadcasttest.Run(t, newCluster(false, 2))
}

func TestConformanceSharded(t *testing.T) {
	c, _ := redistest.Client(t)
	if err := c.SPublish(context.Background(), "rttest:probe", "x").Err(); err != nil {
		redistest.Unavailable(t, "no sharded pub/sub (Redis 7 or later) on the test Redis: %v", err)
	}
	broadcasttest.Run(t, newCluster(true, 0))
}

func TestOptions(t *testing.T) {
	c, _ := redistest.Client(t)
	if _, err := redis.New(nil, redis.Options{}); err == nil {
		t.Error("New(nil client) succeeded")
	}
	if _, err := redis.New(c, redis.Options{Sharded: true, Prefix: "no:tag:"}); err == nil {
		t.Error("sharded prefix without a hash tag accepted")
	}
	for _, p := range []string{"{}:", "}{:", "{a:"} {
		if _, err := redis.New(c, redis.Options{Sharded: true, Prefix: p}); err == nil {
			t.Errorf("sharded prefix %q accepted; it has no hash tag", p)
		}
	}
	if _, err := redis.New(c, redis.Options{Sharded: true}); err != nil {
		t.Errorf("sharded with the default prefix: %v", err)
	}
	if _, err := redis.New(c, redis.Options{PublishTimeout: -1}); err == nil {
		t.Error("negative PublishTimeout accepted")
	}
	if _, err := redis.Open("http://nope", redis.Options{}); err == nil {
		t.Error("Open with a bad URL succeeded")
	}
}

// recorder is a handler that sends what it receives on a channel.
type recorder chan [2]string

func (r recorder) handle(topic string, payload []byte) {
	select {
	case r <- [2]string{topic, string(payload)}:
	default: // the test stopped reading
	}
}

// wait waits for payload on topic, skipping other messages.
func (r recorder) wait(t *testing.T, who, topic, payload string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-r:
			if m == [2]string{topic, payload} {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no %q on %q within %v", who, payload, topic, timeout)
		}
	}
}

func startBroker(t *testing.T, b *redis.Broker) recorder {
	t.Helper()
	r := make(recorder, 1000)
	if err := b.Start(context.Background(), r.handle); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return r
}

func subscribe(t *testing.T, b *redis.Broker, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Subscribe(ctx, topics...); err != nil {
		t.Fatal(err)
	}
}

// publishUntil publishes payload on topic from p every 100ms until r got it.
func publishUntil(t *testing.T, p *redis.Broker, r recorder, who, topic, payload string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = p.Publish(ctx, topic, []byte(payload)) // fails until Redis is back
		cancel()
		for {
			select {
			case m := <-r:
				if m == [2]string{topic, payload} {
					return
				}
				continue
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s: no %q on %q within %v of publishing it every 100ms", who, payload, topic, timeout)
			}
			break
		}
	}
}

// TestOutage stops Redis under two subscribed brokers and starts it again:
// Publish fails promptly meanwhile, and the brokers recover by themselves.
func TestOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	ca := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = ca.Close() })
	a, err := redis.New(ca, redis.Options{Prefix: "outage:"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := redis.Open(srv.URL(), redis.Options{Prefix: "outage:"}) // b owns its client
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := startBroker(t, a), startBroker(t, b)
	subscribe(t, a, "t")
	subscribe(t, b, "t")
	ctx := context.Background()
	if err := a.Publish(ctx, "t", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "B", "t", "hello", 5*time.Second)
	ra.wait(t, "A", "t", "hello", 5*time.Second)
	before := runtime.NumGoroutine()

	srv.Stop()

	// Publish fails, within its context (a hang would fail the test).
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		res <- a.Publish(ctx, "t", []byte("lost"))
	}()
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("Publish succeeded with Redis down")
		}
		t.Logf("Publish with Redis down: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Publish with Redis down did not return")
	}
	// Right after a failure, publishes fail fast without trying Redis, so
	// emitting handlers lose no time while it is down.
	if err := a.Publish(ctx, "t", []byte("lost too")); !errors.Is(err, redis.ErrUnavailable) {
		t.Fatalf("Publish right after a failed one: %v, want ErrUnavailable", err)
	}
	// Subscribe fails too, but the topic is kept and subscribed on return.
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	err = b.Subscribe(sctx, "t2")
	cancel()
	if err == nil {
		t.Fatal("Subscribe succeeded with Redis down")
	}
	t.Logf("Subscribe with Redis down: %v", err)

	srv.Start()

	// The brokers reconnect and resubscribe by themselves.
	publishUntil(t, a, rb, "B", "t", "probe", 10*time.Second)
	publishUntil(t, a, ra, "A", "t", "probe2", 5*time.Second)
	if err := a.Publish(ctx, "t2", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "B", "t2", "kept", 5*time.Second)
	if err := b.Publish(ctx, "t", []byte("from B")); err != nil {
		t.Fatal(err)
	}
	ra.wait(t, "A", "t", "from B", 5*time.Second)

	// No goroutines piled up. go-redis may still be winding down a dialer
	// probe, so give it a moment.
	var now int
	for range 50 {
		if now = runtime.NumGoroutine(); now <= before+2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if now > before+2 {
		t.Errorf("goroutines: %d before the outage, %d after", before, now)
	}
}

// TestDeadConnection freezes the pub/sub connection without closing it, as a
// network partition would: the health check must notice and reconnect.
func TestDeadConnection(t *testing.T) {
	defer redis.SetPingInterval(100 * time.Millisecond)()
	direct, _ := redistest.Client(t)
	opt, err := goredis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, opt.Addr)
	opt.Addr = px.addr()
	viaProxy := goredis.NewClient(opt)
	t.Cleanup(func() { _ = viaProxy.Close() })

	prefix := redistest.Prefix(t)
	a, err := redis.New(direct, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	b, err := redis.New(viaProxy, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	startBroker(t, a)
	rb := startBroker(t, b)
	subscribe(t, b, "t")
	if err := a.Publish(context.Background(), "t", []byte("before")); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "B", "t", "before", 5*time.Second)

	px.freeze() // B's connections now swallow everything, both ways

	publishUntil(t, a, rb, "B", "t", "after", 10*time.Second)
}

// TestRefused checks that Subscribe reports Redis refusing a subscription,
// here for want of ACL permission on the channel.
func TestRefused(t *testing.T) {
	srv := redistest.StartServer(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "rt", "on", ">pw", "~*", "resetchannels", "&app:ok*", "+@all").Err(); err != nil {
		redistest.Unavailable(t, "no ACL channel permissions: %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Username: "rt", Password: "pw"})
	t.Cleanup(func() { _ = c.Close() })
	b, err := redis.New(c, redis.Options{Prefix: "app:"})
	if err != nil {
		t.Fatal(err)
	}
	r := startBroker(t, b)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Subscribe(sctx, "no1"); err == nil {
		t.Fatal("Subscribe to a channel the ACL forbids succeeded")
	} else {
		t.Logf("refused: %v", err)
	}
	subscribe(t, b, "ok1")
	if err := b.Publish(ctx, "ok1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "B", "ok1", "x", 5*time.Second)
	if err := b.Publish(ctx, "no1", []byte("x")); err == nil {
		t.Error("Publish to a channel the ACL forbids succeeded")
	}
	// The refused topic was dropped: after a reconnection, the broker
	// resubscribes to the others, which Redis would refuse along with it.
	if err := admin.Do(ctx, "CLIENT", "KILL", "USER", "rt").Err(); err != nil {
		t.Fatal(err)
	}
	publishUntil(t, b, r, "B", "ok1", "again", 10*time.Second)
}

// proxy forwards TCP connections to a target; freeze makes the connections
// open so far black holes, while new ones still work.
type proxy struct {
	t  *testing.T
	l  net.Listener
	to string

	mu     sync.Mutex
	closed bool
	frozen []chan struct{}
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, l: l, to: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		frozen := make(chan struct{})
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = u.Close()
			return
		}
		p.frozen = append(p.frozen, frozen)
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Go(func() { pipe(u, c, frozen) })
		p.wg.Go(func() { pipe(c, u, frozen) })
	}
}

// pipe copies from src to dst until src fails, dropping the data once frozen
// is closed.
func pipe(dst, src net.Conn, frozen chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-frozen:
			default:
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			// Pass the end on: close both sides, which ends the other pipe.
			_ = src.Close()
			_ = dst.Close()
			return
		}
	}
}

func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.frozen {
		close(f)
	}
	p.frozen = nil
}

func (p *proxy) close() {
	_ = p.l.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
