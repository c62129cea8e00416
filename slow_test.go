package realtime_test

import (
	"encoding/json"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// stamped is a room message that carries its emit time.
type stamped struct {
	Seq int    `json:"seq"`
	T   int64  `json:"t"`
	Pad string `json:"pad"`
}

// member is a room member that reads everything, keeping only counts and
// the largest delay between a message's emit and its arrival.
type member struct {
	gws.BuiltinEventHandler
	conn     *gws.Conn
	received atomic.Int64
	maxDelay atomic.Int64
	outOfSeq atomic.Int64
	closed   chan struct{}
	once     sync.Once
	// pause, while locked, stops the member reading: its read loop waits in
	// OnMessage, and the kernel buffers fill.
	pause sync.Mutex
}

func (m *member) isClosed() bool {
	select {
	case <-m.closed:
		return true
	default:
		return false
	}
}

func (m *member) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	m.pause.Lock()
	m.pause.Unlock() //nolint:staticcheck // an empty critical section: wait while paused

	now := time.Now().UnixNano()
	for _, line := range strings.Split(msg.Data.String(), "\n") {
		var env struct {
			Event string  `json:"event"`
			Data  stamped `json:"data"`
		}
		if json.Unmarshal([]byte(line), &env) != nil || env.Event != "m" {
			continue
		}
		if int64(env.Data.Seq) != m.received.Load() {
			m.outOfSeq.Add(1)
		}
		m.received.Add(1)
		if d := now - env.Data.T; d > m.maxDelay.Load() {
			m.maxDelay.Store(d)
		}
	}
}

func (m *member) OnPing(c *gws.Conn, _ []byte) { _ = c.WritePong(nil) }
func (m *member) OnClose(*gws.Conn, error)     { m.once.Do(func() { close(m.closed) }) }

func dialMember(t *testing.T, url, user string) *member {
	t.Helper()
	m := &member{closed: make(chan struct{})}
	conn, _, err := gws.NewClient(m, &gws.ClientOption{Addr: url, RequestHeader: http.Header{"X-User": {user}}})
	if err != nil {
		t.Fatal(err)
	}
	m.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.WriteClose(1000, nil)
		select {
		case <-m.closed:
		case <-time.After(2 * time.Second):
		}
	})
	return m
}

// A client that never reads while 10,000 messages go to its room: the
// server's memory stays bounded, the socket is closed with 1013, and the
// members that read get every message, in order, while it does not read
// (they would not if it held their deliveries up). The delay of each
// delivery is measured and logged, not asserted: it is the machine's.
func TestSlowReaderInABusyRoom(t *testing.T) {
	const messages, members = 10000, 3
	left := make(chan disconnect, 16)
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(bindUser)
	mux.OnConnect(func(c *realtime.Ctx) error { return c.Join("r") })
	mux.OnDisconnect(func(c *realtime.Ctx) error {
		left <- disconnect{c.SocketID(), c.UserID(), c.DisconnectReason()}
		return nil
	})
	srv, _ := smallBufferServer(t, mux)
	room := mux.In("/").ToRoom("r")

	slow, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), http.Header{"X-User": {"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	var ms []*member
	for i := range members {
		ms = append(ms, dialMember(t, srv.URL("/"), "member"+string(rune('a'+i))))
	}
	testkit.Eventually(t, "everyone in the room", func() bool {
		users, _ := room.Users(bg())
		return len(users) == members+1
	})

	base := heapInuse()
	var peak uint64
	pad := strings.Repeat("p", 1000)
	start := time.Now()
	for i := range messages {
		if err := room.Emit("m", stamped{Seq: i, T: time.Now().UnixNano(), Pad: pad}); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		// Flow control of the test's own: the emitter never gets more
		// than 200 messages ahead of the slowest reading member, so that
		// a reader on a loaded machine is never taken for a slow one.
		for _, m := range ms {
			for int64(i)-m.received.Load() > 200 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	for _, m := range ms {
		testkit.Eventually(t, "every message at every member", func() bool { return m.received.Load() == messages })
	}
	elapsed := time.Since(start)

	var evicted disconnect
	select {
	case evicted = <-left:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow reader was not evicted")
	}
	var ce *realtime.CloseError
	if evicted.user != "slow" || !errorsAs(evicted.reason, &ce) || ce.Code != realtime.CloseTryAgainLater {
		t.Fatalf("disconnect of %s (%v), want the slow reader with 1013", evicted.user, evicted.reason)
	}
	if !closedWithin(slow, 5*time.Second) {
		t.Fatal("the slow reader's connection is still open")
	}
	final := heapInuse()
	var worst time.Duration
	for i, m := range ms {
		if m.outOfSeq.Load() != 0 {
			t.Fatalf("member %d got %d messages out of order", i, m.outOfSeq.Load())
		}
		worst = max(worst, time.Duration(m.maxDelay.Load()))
	}
	t.Logf("%d messages of 1 KB to %d readers and 1 non-reader in %v; max delivery delay %v; heap %s before, peak %s, %s after",
		messages, members, elapsed.Round(time.Millisecond), worst.Round(time.Microsecond), mib(base), mib(peak), mib(final))
	// The queue of one socket holds at most SendQueueBytes (1 MiB), about
	// 950 messages of 1 KB; 10,000 messages are 10 MB. Generous bounds: the heap
	// must not have kept the flood.
	if g := growth(base, peak); g > 48<<20 {
		t.Fatalf("heap peaked %s above its base", mib(g))
	}
	if g := growth(base, final); g > 8<<20 {
		t.Fatalf("heap stays %s above its base", mib(g))
	}
}

// blackhole is a TCP proxy that can make a client vanish: once frozen, it
// forwards nothing in either direction and closes nothing, as when a
// client's network disappears without a FIN or a reset.
type blackhole struct {
	ln     net.Listener
	target string
	frozen chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target, frozen: make(chan struct{})}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", b.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		b.mu.Lock()
		b.conns = append(b.conns, c, s)
		b.mu.Unlock()
		b.wg.Add(2)
		go b.pipe(s, c)
		go b.pipe(c, s)
	}
}

// pipe copies src to dst until frozen; then it stops reading, leaving the
// bytes in the kernel's buffers.
func (b *blackhole) pipe(dst, src net.Conn) {
	defer b.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		select {
		case <-b.frozen:
			return
		default:
		}
		_ = src.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-b.frozen:
				return
			default:
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
	}
}

func (b *blackhole) freeze() { b.once.Do(func() { close(b.frozen) }) }

func (b *blackhole) close() {
	b.freeze()
	_ = b.ln.Close()
	b.wg.Wait()
	b.mu.Lock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
}

func (b *blackhole) url(path string) string { return "ws://" + b.ln.Addr().String() + path }

// limiterProbe is stored in a socket's locals, where RateLimit keeps its
// state, so that the test can see when the locals are freed.
type limiterProbe struct{ buf [1 << 10]byte }
type probeKey struct{}

// A client whose TCP connection silently disappears is freed within
// PingInterval + PingTimeout: it leaves its rooms and the presence lists,
// its disconnect runs, and its socket, with its locals (the rate limiter's
// state among them), becomes garbage.
func TestVanishedClientIsFreed(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	left := make(chan disconnect, 16)
	var (
		mu     sync.Mutex
		probes = map[string]weak.Pointer[limiterProbe]{}
		socks  = map[string]weak.Pointer[realtime.Socket]{}
	)
	mux := realtime.New(quiet(realtime.Config{PingInterval: interval, PingTimeout: timeout}))
	mux.Use(middleware.RequestID, middleware.Auth(bindHeaderUser), middleware.RateLimit(middleware.RateLimitOpts{}))
	mux.OnConnect(func(c *realtime.Ctx) error {
		p := &limiterProbe{}
		c.Socket().SetLocal(probeKey{}, p)
		mu.Lock()
		probes[c.UserID()] = weak.Make(p)
		socks[c.UserID()] = weak.Make(c.Socket())
		mu.Unlock()
		return c.Join("lobby")
	})
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.OnDisconnect(func(c *realtime.Ctx) error {
		left <- disconnect{c.SocketID(), c.UserID(), c.DisconnectReason()}
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	proxy := newBlackhole(t, srv.Listener.Addr().String())

	stay := realtimetest.MustDial(t, srv.URL("/"), &realtimetest.Options{Header: http.Header{"X-User": {"stay"}}})
	ghost := realtimetest.MustDial(t, proxy.url("/wss/"), &realtimetest.Options{Header: http.Header{"X-User": {"ghost"}}})
	// The ghost has used the rate limiter, so it has state to free.
	if _, err := ghost.Request(testkit.Context(t), "echo", "hi"); err != nil {
		t.Fatal(err)
	}
	lobby := mux.In("/").ToRoom("lobby")
	if users, _ := lobby.Users(bg()); len(users) != 2 {
		t.Fatalf("lobby: %v", users)
	}

	proxy.freeze()
	vanished := time.Now()
	var d disconnect
	select {
	case d = <-left:
	case <-time.After(10 * time.Second):
		t.Fatal("the vanished client was not freed")
	}
	took := time.Since(vanished)
	var ce *realtime.CloseError
	if d.user != "ghost" || !errorsAs(d.reason, &ce) || ce.Reason != "ping timeout" {
		t.Fatalf("disconnect of %q (%v), want the ghost by ping timeout", d.user, d.reason)
	}
	// A ping is due at most interval after the last frame, and the socket
	// is closed timeout later: within interval + timeout of vanishing, plus
	// scheduling slack, which a loaded machine makes what it will: the
	// time is logged, not asserted.
	t.Logf("vanished client freed after %v (PingInterval+PingTimeout = %v)", took.Round(time.Millisecond), interval+timeout)
	// OnDisconnect runs while the socket is still in its rooms; they are
	// left right after it returns.
	testkit.Eventually(t, "the lobby without the ghost", func() bool {
		users, _ := lobby.Users(bg())
		return len(users) == 1 && users[0] == "stay"
	})
	if users, _ := mux.In("/").ToUser("ghost").Users(bg()); len(users) != 0 {
		t.Fatalf("the ghost is still online: %v", users)
	}
	testkit.Eventually(t, "the ghost's socket and locals to be collected", func() bool {
		runtime.GC()
		mu.Lock()
		defer mu.Unlock()
		return probes["ghost"].Value() == nil && socks["ghost"].Value() == nil
	})
	mu.Lock()
	if probes["stay"].Value() == nil {
		t.Fatal("the live socket's locals were collected")
	}
	mu.Unlock()
	// The other client never noticed.
	if got, err := stay.Request(testkit.Context(t), "echo", "still here"); err != nil || string(got) != `"still here"` {
		t.Fatalf("echo: %s, %v", got, err)
	}
}

// A client that floods pings and never reads the pongs costs the server no
// memory (pongs are written at once, on the connection's read goroutine, so
// the flood is held back by TCP to the pace the client reads, here none)
// and does not slow the other sockets; once it goes, it is freed.
func TestPingFloodFromANonReader(t *testing.T) {
	left := make(chan disconnect, 16)
	mux := pingMux(300 * time.Millisecond)
	mux.OnDisconnect(func(c *realtime.Ctx) error {
		left <- disconnect{c.SocketID(), c.UserID(), c.DisconnectReason()}
		return nil
	})
	srv, _ := smallBufferServer(t, mux)
	other := dial(t, srv, "/")
	nc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ping := encodeFrame(true, opPing, []byte(strings.Repeat("p", 125)), true, 0)
	flood := make([]byte, 0, 1000*len(ping))
	for range 1000 {
		flood = append(flood, ping...)
	}
	base := heapInuse()
	stop := make(chan struct{})
	var written atomic.Int64
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := nc.Write(flood)
			written.Add(int64(n))
			if err != nil && !isTimeout(err) {
				return
			}
		}
	}()
	var worst time.Duration
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		start := time.Now()
		if got, err := other.Request(testkit.Context(t), "echo", "x"); err != nil || string(got) != `"x"` {
			t.Fatalf("echo during the flood: %s, %v", got, err)
		}
		worst = max(worst, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	grew := growth(base, heapInuse())
	close(stop)
	<-flooding
	_ = nc.Close()
	t.Logf("%s of pings written in 2s by a client that reads nothing; another socket's worst echo %v; heap growth %s",
		mib(uint64(written.Load())), worst.Round(time.Microsecond), mib(grew))
	if grew > 16<<20 {
		t.Fatalf("heap grew by %s during the flood", mib(grew))
	}
	d := receive(t, left, "the flooder's disconnect")
	if d.id == other.SocketID {
		t.Fatal("the other socket was disconnected")
	}
	stillServes(t, srv)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errorsAs(err, &ne) && ne.Timeout()
}
