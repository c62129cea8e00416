package realtime_test

import (
	"testing"
	"time"

	"strings"
	"sync/atomic"

	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"sync"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// Every limit is configurable, and the zero Config gets safe defaults:
// bounded payloads, connections per address, rooms per socket, send queue,
// event rate, heartbeat and write and handshake timeouts.
func TestLimitsHaveSafeDefaults(t *testing.T) {
	c := realtime.New(realtime.Config{}).Config()
	for _, d := range []struct {
		name     string
		got, max int64
	}{
		{"MaxPayloadBytes", int64(c.MaxPayloadBytes), 1 << 20},
		{"Limits.ConnectionsPerIP", int64(c.Limits.ConnectionsPerIP), 100},
		{"Limits.MaxRoomsPerSocket", int64(c.Limits.MaxRoomsPerSocket), 1000},
		{"Limits.EventsPerSecond", int64(c.Limits.EventsPerSecond), 100},
		{"Limits.Burst", int64(c.Limits.Burst), 200},
		{"SendQueueBytes", int64(c.SendQueueBytes), 16 << 20},
		{"PingInterval+PingTimeout (s)", int64((c.PingInterval + c.PingTimeout) / time.Second), 120},
		{"WriteTimeout (s)", int64(c.WriteTimeout / time.Second), 60},
		{"HandshakeTimeout (s)", int64(c.HandshakeTimeout / time.Second), 60},
	} {
		if d.got <= 0 || d.got > d.max {
			t.Errorf("default %s = %d: want a limit in (0, %d]", d.name, d.got, d.max)
		}
	}
	// The values the protocol documents.
	if c.MaxPayloadBytes != 64<<10 || c.Limits.ConnectionsPerIP != 20 || c.Limits.MaxRoomsPerSocket != 100 ||
		c.SendQueueBytes != 1<<20 || c.PingInterval != 25*time.Second || c.PingTimeout != 20*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	// Each is taken as given.
	set := realtime.New(realtime.Config{MaxPayloadBytes: 1000, SendQueueBytes: 7000, WriteTimeout: time.Second, HandshakeTimeout: 2 * time.Second,
		Limits: realtime.Limits{ConnectionsPerIP: 3, MaxRoomsPerSocket: 4, EventsPerSecond: 5, Burst: 6}}).Config()
	if set.MaxPayloadBytes != 1000 || set.SendQueueBytes != 7000 || set.WriteTimeout != time.Second || set.HandshakeTimeout != 2*time.Second ||
		set.Limits != (realtime.Limits{ConnectionsPerIP: 3, MaxRoomsPerSocket: 4, EventsPerSecond: 5, Burst: 6}) {
		t.Fatalf("configured %+v", set)
	}
	// And each bites where it is set (the payload, connection and room
	// limits are exercised at their configured values by
	// TestHostileInputMatrix, TestConnectionsPerIP and TestMaxRoomsPerSocket;
	// here, the send queue).
	left := make(chan error, 4)
	mux := realtime.New(quiet(realtime.Config{SendQueueBytes: 1024}))
	mux.On("burst", func(c *realtime.Ctx) error {
		// Socket.Emit queues (Ctx.Reply would write on this goroutine
		// while the queue is empty, and wait for the client instead).
		for i := range 1000 {
			_ = c.Socket().Emit("n", i)
		}
		return nil
	})
	mux.OnDisconnect(func(c *realtime.Ctx) error { left <- c.DisconnectReason(); return nil })
	srv := realtimetest.NewServer(t, mux)
	rc := dialRawConn(t, srv.URL("/"), nil)
	_ = rc.text(`{"event":"burst"}`)
	var ce *realtime.CloseError
	if r := receive(t, left, "the eviction"); !errorsAs(r, &ce) || ce.Code != realtime.CloseTryAgainLater {
		t.Fatalf("1000 replies into a queue of 1 KiB: %v, want 1013", r)
	}
}

// Limits.ConnectionsPerIP bites at its value: the next handshake from the
// address, by either client, gets HTTP 429 before any upgrade or connect,
// and a slot frees once the server has seen a socket close.
func TestConnectionsPerIP(t *testing.T) {
	var connects atomic.Int32
	mux := realtime.New(quiet(realtime.Config{Limits: realtime.Limits{ConnectionsPerIP: 3}}))
	mux.OnConnect(func(c *realtime.Ctx) error { connects.Add(1); return nil })
	srv := realtimetest.NewServer(t, mux)
	var open []*realtimetest.Client
	for range 3 {
		open = append(open, dial(t, srv, "/"))
	}
	_, err := realtimetest.Dial(testkit.Context(t), srv.URL("/"), nil)
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("4th connection: %v, want HTTP 429", err)
	}
	// Raw dials count the same.
	if _, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("4th raw connection: %v, want HTTP 429", err)
	}
	if connects.Load() != 3 {
		t.Fatalf("%d connects, want 3", connects.Load())
	}
	open[0].Close()
	// The slot frees once the server has seen the close.
	var again *realtimetest.Client
	testkit.Eventually(t, "a slot to free", func() bool {
		cl, err := realtimetest.Dial(testkit.Context(t), srv.URL("/"), nil)
		if err != nil {
			if !strings.Contains(err.Error(), "429") {
				t.Fatalf("dial: %v", err)
			}
			return false
		}
		again = cl
		return true
	})
	defer again.Close()
	if _, err := realtimetest.Dial(testkit.Context(t), srv.URL("/"), nil); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("over the limit again: %v, want HTTP 429", err)
	}
}

// 500 connection attempts at once from one address: at most the per-address
// limit is upgraded, every other attempt gets 429 before any upgrade, memory
// stays bounded, and the slots come back once the sockets close.
func TestConnectionFloodFromOneAddress(t *testing.T) {
	const attempts = 500
	var connects atomic.Int32
	mux := realtime.New(quiet(realtime.Config{}))
	mux.OnConnect(func(c *realtime.Ctx) error { connects.Add(1); return nil })
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	srv := realtimetest.NewServer(t, mux)
	limit := mux.Config().Limits.ConnectionsPerIP

	before := heapInuse()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		open    []net.Conn
		refused int
		other   []error
	)
	start := make(chan struct{})
	for range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			nc, err := realtimetest.DialRaw(ctx, srv.URL("/"), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				open = append(open, nc)
			case strings.Contains(err.Error(), "429"):
				refused++
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	grew := growth(before, heapInuse())
	t.Logf("%d attempts: %d upgraded, %d refused with 429, %d other errors; heap growth %s",
		attempts, len(open), refused, len(other), mib(grew))
	if len(other) > 0 {
		t.Fatalf("attempts failed otherwise than with 429: %v", other[0])
	}
	if len(open) == 0 || len(open) > limit || len(open)+refused != attempts {
		t.Fatalf("%d upgraded, %d refused; want at most %d upgraded and the rest refused", len(open), refused, limit)
	}
	if grew > 32<<20 {
		t.Fatalf("heap grew by %s for %d attempts", mib(grew), attempts)
	}
	if n := int(connects.Load()); n != len(open) {
		t.Fatalf("%d connects ran for %d upgraded sockets", n, len(open))
	}
	for _, nc := range open {
		_ = nc.Close()
	}
	// Every slot comes back.
	var again []*realtimetest.Client
	testkit.Eventually(t, "the slots to come back", func() bool {
		cl, err := realtimetest.Dial(testkit.Context(t), srv.URL("/"), nil)
		if err != nil {
			return false
		}
		again = append(again, cl)
		return len(again) == limit
	})
	for _, cl := range again {
		cl.Close()
	}
}

// A handshake that never finishes is the HTTP server's to time out: with
// ReadHeaderTimeout set, a client that sends half a request head is cut off,
// and since the mux only sees complete requests, it holds no per-address slot
// meanwhile. A socket upgraded but then silent is the mux's: the ping timeout
// closes it.
func TestHandshakesThatNeverFinish(t *testing.T) {
	left := make(chan error, 64)
	mux := realtime.New(quiet(realtime.Config{
		PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond,
		Limits: realtime.Limits{ConnectionsPerIP: 2},
	}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.OnDisconnect(func(c *realtime.Ctx) error { left <- c.DisconnectReason(); return nil })
	if err := mux.Start(bg()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(mux)
	hs.Config.ReadHeaderTimeout = 300 * time.Millisecond
	hs.Start()
	srv := &realtimetest.Server{Server: hs, Mux: mux}
	t.Cleanup(srv.Close)
	addr := hs.Listener.Addr().String()

	// Ten half-sent handshakes: more than the per-address limit.
	var half []net.Conn
	for range 10 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write([]byte("GET /wss/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")); err != nil {
			t.Fatal(err)
		}
		half = append(half, nc)
	}
	// Meanwhile real clients still get in: the half handshakes hold no slot.
	stillServes(t, srv)
	for i, nc := range half {
		if !closedWithin(nc, 5*time.Second) {
			t.Fatalf("half handshake %d is still open after 5s (ReadHeaderTimeout 300ms)", i)
		}
	}

	// An upgraded socket that never sends anything, pongs included.
	silent, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	var ce *realtime.CloseError
	for ce == nil { // skip the echo client's own close
		reason := receive(t, left, "the silent socket's disconnect")
		if !errorsAs(reason, &ce) || ce.ByClient {
			ce = nil
			continue
		}
		if ce.Code != realtime.CloseGoingAway || ce.Reason != "ping timeout" {
			t.Fatalf("disconnect reason %v, want the ping timeout", reason)
		}
	}
	t.Logf("silent socket closed after %v (PingInterval+PingTimeout 300ms)", time.Since(start))
	if !closedWithin(silent, 5*time.Second) {
		t.Fatal("the silent socket's connection is still open")
	}
}
