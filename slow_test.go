package realtime_test

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
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
