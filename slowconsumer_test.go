package realtime_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"net"

	"github.com/lxzan/gws"

	"runtime"

	"fmt"

	"context"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"

	bmemory "github.com/lolyjs/realtime/broadcast/memory"

	smemory "github.com/lolyjs/realtime/store/memory"
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

func (m *member) OnClose(*gws.Conn, error) { m.once.Do(func() { close(m.closed) }) }

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

// The send queue is bounded by bytes, with one policy for every client: a
// client that never reads is evicted with 1013 once more than
// SendQueueBytes (1 MiB by default) waits for it, while a member of the same
// room that pauses reading, with less than that waiting for it (thousands
// of small messages), then reads again, is not evicted and gets every
// message in order. The test decides what waits, not the machine's speed:
// the pause covers a fixed amount under the bound, and afterwards the
// emitter never runs more than 64 messages ahead of the reader.
func TestSlowConsumerIsEvicted(t *testing.T) {
	left := make(chan disconnect, 4)
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(bindUser)
	mux.OnConnect(func(c *realtime.Ctx) error { return c.Join("r") })
	mux.OnDisconnect(func(c *realtime.Ctx) error {
		left <- disconnect{c.SocketID(), c.UserID(), c.DisconnectReason()}
		return nil
	})
	srv, _ := smallBufferServer(t, mux)

	slow, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), http.Header{"X-User": {"slow"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if tc, ok := slow.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	reader := dialMember(t, srv.URL("/"), "reader")
	room := srv.Mux.In("/").ToRoom("r")
	testkit.Eventually(t, "both sockets in the room", func() bool {
		users, _ := room.Users(bg())
		return len(users) == 2
	})

	// The reader pauses while 5,000 small messages (about 800 KB with the
	// per-message overhead) are emitted: more messages than any count-based
	// queue would hold for it, fewer bytes than the bound.
	reader.pause.Lock()
	const small = 5000
	for i := range small {
		if err := room.Emit("m", stamped{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	reader.pause.Unlock()
	testkit.Eventually(t, "the paused reader catching up", func() bool { return reader.received.Load() == small })

	// Then 2 MB more, paced by the reader: the non-reader is over the bound
	// whatever its kernel buffers hold.
	pad := strings.Repeat("p", 1000)
	const total = small + 2000
	for i := small; i < total; i++ {
		if err := room.Emit("m", stamped{Seq: i, Pad: pad}); err != nil {
			t.Fatal(err)
		}
		for int64(i)-reader.received.Load() > 64 {
			if reader.isClosed() {
				t.Fatalf("the reader was closed after %d messages", reader.received.Load())
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	testkit.Eventually(t, "every message at the reader", func() bool { return reader.received.Load() == total })
	if reader.outOfSeq.Load() != 0 {
		t.Fatalf("the reader got %d messages out of order", reader.outOfSeq.Load())
	}
	gone := receive(t, left, "the eviction")
	var ce *realtime.CloseError
	if gone.user != "slow" || !errorsAs(gone.reason, &ce) || ce.Code != realtime.CloseTryAgainLater {
		t.Fatalf("disconnect of %q (%v); want the non-reader with 1013", gone.user, gone.reason)
	}
	if reader.isClosed() {
		t.Fatal("the reader was closed")
	}
	// The server closed the non-reader's connection: draining it ends in
	// the close frame and EOF, not a timeout.
	if !closedWithin(slow, 10*time.Second) {
		t.Fatal("the slow client's connection is still open")
	}
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

// Without a rate limit, a client that sends garbage and never reads the
// error replies does not make the server hold them without bound: its send
// queue fills, and it is evicted with 1013.
func TestErrorRepliesToANonReaderAreBounded(t *testing.T) {
	left := make(chan error, 64)
	var handled atomic.Int64
	mux := realtime.New(quiet(realtime.Config{SendQueueBytes: 64 << 10}))
	mux.Use(func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() == realtime.KindEvent {
				handled.Add(1)
			}
			return next(c)
		}
	})
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.OnDisconnect(func(c *realtime.Ctx) error { left <- c.DisconnectReason(); return nil })
	srv, _ := smallBufferServer(t, mux)
	nc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	before := heapInuse()
	// 64 KiB frames of 21,845 garbage lines each, until the server gives
	// up on the socket.
	frame := []byte(strings.Repeat("{]\n", (64<<10)/3))
	var sent int
	for sent < 200 {
		_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if realtimetest.WriteText(nc, frame) != nil {
			break
		}
		sent++
	}
	reason := receive(t, left, "the eviction")
	var ce *realtime.CloseError
	if !errorsAs(reason, &ce) || ce.Code != realtime.CloseTryAgainLater {
		t.Fatalf("disconnect reason %v, want 1013", reason)
	}
	grew := growth(before, heapInuse())
	t.Logf("%d frames (%d envelopes) written, %d handled before eviction; heap growth %s", sent, sent*21845, handled.Load(), mib(grew))
	if grew > 32<<20 {
		t.Fatalf("heap grew by %s", mib(grew))
	}
	if !closedWithin(nc, 5*time.Second) {
		t.Fatal("the evicted connection is still open")
	}
	// Frames after the eviction are not handled: at most the frame being
	// split when the queue overflowed is finished.
	if h := handled.Load(); h > int64(2*21845) {
		t.Fatalf("%d envelopes handled: the server kept working for an evicted socket", h)
	}
	stillServes(t, srv)
}

// A client that stops reading while it keeps sending is evicted as a slow
// consumer; when it reads again it finds the 1013 close after what was
// already on its way (possibly nothing: the burst outruns the writer).
func TestEvictedSlowConsumerThatKeepsSendingGetsItsCloseCode(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{SendQueueBytes: 64 << 10}))
	mux.On("x", func(c *realtime.Ctx) error { return nil })
	srv, _ := smallBufferServer(t, mux)
	pad := strings.Repeat("p", 1000)
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rc := dialRawConn(t, srv.URL("/"), nil) // connected: emits reach it
			b := startBusy(t, rc, `{"event":"x"}`)
			// 2 MB for a client that reads nothing: far more than the
			// queue's 64 KiB and the kernel buffers on the way (its receive
			// buffer does not grow while it does not read).
			for n := range 2000 {
				if err := srv.Mux.In("/").Emit("m", stamped{Seq: n, Pad: pad}); err != nil {
					t.Fatal(err)
				}
			}
			envs, cf := b.untilClose(t, 20*time.Second)
			if cf.code != realtime.CloseTryAgainLater {
				t.Fatalf("%v after %d envelopes, want 1013", cf, len(envs))
			}
			if len(envs) >= 2000 {
				t.Fatalf("%d envelopes before the close; want at most the first ones", len(envs))
			}
		})
	}
}

// A Socket.IO client that stops taking what it is sent (a polling client
// that stops polling, a WebSocket client that stops reading) in a room
// receiving a burst, with the burst emitted on its own instance or on
// another one: the server evicts it with 1013 and goes on serving the
// room's other members, every message in order; new sockets still connect;
// both instances shut down cleanly within their deadline.
func TestStalledSocketIOClientDoesNotStallItsNamespace(t *testing.T) {
	for _, transport := range []string{"polling", "websocket"} {
		for _, origin := range []string{"local", "remote"} {
			t.Run(transport+"/"+origin, func(t *testing.T) {
				testStalledSocketIOClient(t, transport, origin)
			})
		}
	}
}

func testStalledSocketIOClient(t *testing.T, transport, origin string) {
	const messages = 6000
	hub, st := bmemory.NewHub(), smemory.New()
	t.Cleanup(func() { _ = st.Close() })
	joined := make(chan string, 16)
	left := make(chan disconnect, 16)
	newMux := func(members bool) *realtime.Mux {
		br := hub.Broker()
		t.Cleanup(func() { _ = br.Close() })
		mux := realtime.New(quiet(realtime.Config{
			Store:       st,
			Broker:      br,
			PresenceTTL: time.Minute,
		}))
		mux.Use(bindUser)
		if members {
			mux.OnConnect(func(c *realtime.Ctx) error { joined <- c.UserID(); return c.Join("r") })
			mux.OnDisconnect(func(c *realtime.Ctx) error {
				left <- disconnect{c.SocketID(), c.UserID(), c.DisconnectReason()}
				return nil
			})
		}
		mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Data()) })
		return mux
	}
	muxA, muxB := newMux(true), newMux(false)
	srvA, _ := smallBufferServer(t, muxA)
	smallBufferServer(t, muxB) // started and served, as a real instance

	native := dialMember(t, srvA.URL("/"), "native")
	sio := dialSIOMember(t, srvA, http.Header{"X-User": {"sio"}})
	stalled := http.Header{"X-User": {"stalled"}}
	switch transport {
	case "polling":
		p := openPolling(t, srvA, stalled)
		p.post("40")
		p.pollUntil("40") // connected; from now on it never polls again
	case "websocket":
		stalledSIOWebSocket(t, srvA, stalled)
	}
	for range 3 {
		receive(t, joined, "three members in the room")
	}

	emitter := muxA
	if origin == "remote" {
		emitter = muxB
	}
	room := emitter.In("/").ToRoom("r")
	pad := strings.Repeat("p", 1000)
	readers := []*atomic.Int64{&native.received, &sio.received}
	done := make(chan error, 1)
	go func() {
		for i := range messages {
			if err := room.Emit("m", stamped{Seq: i, Pad: pad}); err != nil {
				done <- fmt.Errorf("emit %d: %w", i, err)
				return
			}
			// Never more than 200 messages ahead of a reading member, so
			// that a reader on a loaded machine is not taken for a slow one.
			for _, r := range readers {
				stuck := time.Now().Add(20 * time.Second)
				for int64(i)-r.Load() > 200 {
					if time.Now().After(stuck) {
						done <- fmt.Errorf("deliveries stopped: a reading member has %d of %d", r.Load(), i)
						return
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("emitting to the room hangs")
	}
	testkit.Eventually(t, "every message at the native member", func() bool { return native.received.Load() == messages })
	testkit.Eventually(t, "every message at the Socket.IO member", func() bool { return sio.received.Load() == messages })
	if native.outOfSeq.Load() != 0 || sio.outOfSeq.Load() != 0 {
		t.Fatalf("out of order: native %d, Socket.IO %d", native.outOfSeq.Load(), sio.outOfSeq.Load())
	}

	gone := receive(t, left, "the stalled client's disconnect")
	var ce *realtime.CloseError
	if gone.user != "stalled" || !errorsAs(gone.reason, &ce) || ce.Code != realtime.CloseTryAgainLater {
		t.Fatalf("disconnect of %q (%v); want the stalled client with 1013", gone.user, gone.reason)
	}

	// The namespace still takes new sockets, which get the room's emits.
	late := dialAs(t, srvA, "/", "late")
	if _, err := late.Request(testkit.Context(t), "echo", "hi"); err != nil {
		t.Fatalf("a socket connected after the burst: %v", err)
	}
	receive(t, joined, "the late socket's connect")
	if err := room.Emit("after", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Wait(testkit.Context(t), "after"); err != nil {
		t.Fatalf("an emit after the burst: %v", err)
	}

	for name, mux := range map[string]*realtime.Mux{"A": muxA, "B": muxB} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := mux.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("instance %s did not shut down cleanly: %v", name, err)
		}
	}
}
