package realtime_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"strings"

	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// A socket that answers no ping is closed with 1001 "ping timeout" and its
// disconnect runs; a socket that answers is served long past
// PingInterval + PingTimeout.
func TestHeartbeat(t *testing.T) {
	left := make(chan error, 4)
	ids := make(chan string, 4)
	// A generous timeout: a loaded machine may delay a pong by a good
	// fraction of a second, and that must not count as silence.
	mux := realtime.New(quiet(realtime.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.OnDisconnect(func(c *realtime.Ctx) error { ids <- c.SocketID(); left <- c.DisconnectReason(); return nil })
	srv := realtimetest.NewServer(t, mux)

	alive := dial(t, srv, "/") // answers pings
	silent, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	id := receive(t, ids, "the silent client's disconnect")
	reason := <-left
	if id == alive.SocketID {
		t.Fatal("the client answering pings was closed")
	}
	var ce *realtime.CloseError
	if !errors.As(reason, &ce) || ce.Code != realtime.CloseGoingAway || ce.Reason != "ping timeout" {
		t.Fatalf("disconnect reason %v, want the ping timeout", reason)
	}
	// Well past PingInterval+PingTimeout, the answering client is still
	// served.
	time.Sleep(time.Second)
	if alive.Closed() {
		t.Fatalf("the client answering pings was closed: %d", alive.CloseCode())
	}
	syncEcho(t, alive)
	select {
	case id := <-ids:
		t.Fatalf("socket %s disconnected, want only the silent one", id)
	default:
	}
}

// A ping flood is answered pong for pong while the client reads, and the
// socket keeps serving events.
func TestPingFlood(t *testing.T) {
	const pings = 10000
	srv := realtimetest.NewServer(t, hostileMux())
	rc := dialRawConn(t, srv.URL("/"), nil)
	payload := []byte(strings.Repeat("p", 125))
	frames := make([]byte, 0, pings*(6+125))
	for range pings {
		frames = append(frames, encodeFrame(true, opPing, payload, true, 0)...)
	}
	// Write the flood from another goroutine while this one reads the pongs,
	// as a client that reads does.
	wrote := make(chan error, 1)
	go func() {
		_ = rc.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := rc.nc.Write(frames)
		wrote <- err
	}()
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for rc.pongs < pings {
		_, op, _, err := rc.readFrame()
		if err != nil {
			t.Fatalf("after %d pongs: %v", rc.pongs, err)
		}
		if op == opPong {
			rc.pongs++
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("writing %d pings: %v", pings, err)
	}
	if rc.pongs != pings {
		t.Fatalf("%d pongs for %d pings", rc.pongs, pings)
	}
	rc.syncAck(1)
}

// A client may ping the server at any time; the server's answer must not
// fail because the write deadline of its last write has passed. (It did:
// pongs were written with no fresh deadline, so a client ping arriving more
// than WriteTimeout after the server last wrote got a timed-out write, and
// the connection was closed.)
func TestClientPingLongAfterLastWrite(t *testing.T) {
	srv := realtimetest.NewServer(t, pingMux(300*time.Millisecond))
	rc := dialRawConn(t, srv.URL("/"), nil)
	rc.syncAck(1)
	time.Sleep(time.Second) // well past WriteTimeout since the last write
	if err := rc.writeFrame(true, opPing, []byte("late"), true, 0); err != nil {
		t.Fatal(err)
	}
	rc.syncAck(2)
	if rc.pongs != 1 {
		t.Fatalf("%d pongs for one ping", rc.pongs)
	}
}

// pingMux serves echo with a short WriteTimeout and a heartbeat far away.
func pingMux(writeTimeout time.Duration) *realtime.Mux {
	mux := realtime.New(quiet(realtime.Config{WriteTimeout: writeTimeout, PingInterval: time.Minute}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	return mux
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

// limiterProbe is stored in a socket's locals, where RateLimit keeps its
// state, so that the test can see when the locals are freed.
type limiterProbe struct{ buf [1 << 10]byte }

type probeKey struct{}
