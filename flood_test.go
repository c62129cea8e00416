package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

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

// A socket that joins rooms without end is stopped at
// Limits.MaxRoomsPerSocket (here the default, 100), and keeps being served.
func TestRoomJoinFlood(t *testing.T) {
	srv := realtimetest.NewServer(t, roomsMux(realtime.Config{}))
	cl := dial(t, srv, "/")
	// Frames of 100 joins, each answered before the next is sent: a single
	// frame of 1,000 would make 1,900 replies, more than the send queue
	// holds, and whether the client reads them fast enough would decide if
	// it is evicted as a slow consumer (that case is TestErrorRepliesTo...).
	const joins, perFrame = 1000, 100
	ok, refused := 0, 0
	for start := 0; start < joins; start += perFrame {
		var frame bytes.Buffer
		ids := make([]int64, perFrame)
		for i := range ids {
			ids[i] = cl.NextAckID()
			fmt.Fprintf(&frame, `{"event":"join","data":"room-%d","id":%d}`+"\n", start+i, ids[i])
		}
		if err := cl.SendRaw(frame.Bytes()); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			m, err := cl.WaitAck(testkit.Context(t), id)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case m.Error == nil:
				ok++
			case m.Error.Code == realtime.CodeForbidden:
				refused++
			default:
				t.Fatalf("join: %s", m.Raw)
			}
		}
	}
	max := realtime.DefaultMaxRoomsPerSocket
	if ok != max || refused != joins-max {
		t.Fatalf("%d joins accepted, %d refused; want %d and %d", ok, refused, max, joins-max)
	}
	var rooms []string
	if err := json.Unmarshal(testkit.Request(t, cl, "rooms", nil), &rooms); err != nil || len(rooms) != max {
		t.Fatalf("in %d rooms (%v), want %d", len(rooms), err, max)
	}
	// Leaving one frees a place.
	testkit.Request(t, cl, "leave", "room-0")
	testkit.Request(t, cl, "join", "room-999")
	if _, err := cl.Request(testkit.Context(t), "join", "room-998"); err == nil {
		t.Fatal("a 101st room was joined")
	}
}
