package realtime_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

type point struct {
	N int    `json:"n"`
	S string `json:"s"`
}

// protocolMux serves echo (acks its data), typed and bind (take a point),
// and seq (replies with its data, to check order).
func protocolMux(cfg realtime.Config) *realtime.Mux {
	mux := realtime.New(quiet(cfg))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.On("typed", realtime.Typed(func(c *realtime.Ctx, p point) error { return c.Ack(p) }))
	mux.On("bind", func(c *realtime.Ctx) error {
		var p point
		if err := c.Bind(&p); err != nil {
			return err
		}
		return c.Ack(p)
	})
	mux.On("seq", func(c *realtime.Ctx) error { return c.Reply("seq", json.RawMessage(c.Data())) })
	return mux
}

// Several envelopes in one frame are handled in order, a bad one among them
// included, and each gets its own outcome.
func TestFrameWithSeveralEnvelopes(t *testing.T) {
	srv := realtimetest.NewServer(t, protocolMux(realtime.Config{}))
	cl := dial(t, srv, "/")
	frame := strings.Join([]string{
		`{"event":"seq","data":1}`,
		`{"event":"echo","data":"a","id":1}`,
		``,
		`{"event":"seq","data":2}`,
		`{"event":`,
		`{"event":"seq","data":3}`,
		`{"event":"echo","data":"b","id":2}`,
	}, "\n")
	if err := cl.SendRaw([]byte(frame)); err != nil {
		t.Fatal(err)
	}
	a, err := cl.WaitAck(testkit.Context(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cl.WaitAck(testkit.Context(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Data) != `"a"` || string(b.Data) != `"b"` {
		t.Fatalf("acks: %s %s", a.Raw, b.Raw)
	}
	var got []string
	for _, m := range cl.Events() {
		got = append(got, m.Event+":"+string(m.Data))
	}
	want := []string{"seq:1", "seq:2", realtime.EventError + ":", "seq:3"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if !(a.Seq < b.Seq) {
		t.Fatalf("ack 1 (#%d) arrived after ack 2 (#%d)", a.Seq, b.Seq)
	}
}

// frameCounter is a bare gws client that records each frame it receives.
type frameCounter struct {
	gws.BuiltinEventHandler
	mu     sync.Mutex
	frames [][]string
	done   chan struct{}
	want   int
	total  int
}

func (f *frameCounter) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	lines := strings.Split(msg.Data.String(), "\n")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, lines)
	for _, l := range lines {
		if strings.Contains(l, `"n"`) {
			f.total++
		}
	}
	if f.total == f.want {
		close(f.done)
	}
}

// The server coalesces what is queued for a socket into shared frames, and
// the envelopes still arrive whole and in order. (Socket.Emit queues;
// Ctx.Reply writes each reply at once while nothing is queued.)
func TestServerCoalescesFrames(t *testing.T) {
	const n = 200
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("burst", func(c *realtime.Ctx) error {
		for i := range n {
			if err := c.Socket().Emit("n", i); err != nil {
				return err
			}
		}
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	fc := &frameCounter{done: make(chan struct{}), want: n}
	conn, _, err := gws.NewClient(fc, &gws.ClientOption{Addr: srv.URL("/")})
	if err != nil {
		t.Fatal(err)
	}
	go conn.ReadLoop()
	defer conn.WriteClose(1000, nil)
	if err := conn.WriteString(`{"event":"burst"}`); err != nil {
		t.Fatal(err)
	}
	receive(t, fc.done, "200 envelopes")
	fc.mu.Lock()
	defer fc.mu.Unlock()
	next, biggest := 0, 0
	for _, frame := range fc.frames {
		count := 0
		for _, line := range frame {
			var m struct {
				Event string          `json:"event"`
				Data  json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("frame line %q is not one envelope: %v", line, err)
			}
			if m.Event != "n" {
				continue
			}
			if string(m.Data) != strconv.Itoa(next) {
				t.Fatalf("got n=%s, want %d: order lost", m.Data, next)
			}
			next++
			count++
		}
		biggest = max(biggest, count)
	}
	if biggest < 2 {
		t.Fatalf("200 queued emits arrived in %d frames of one envelope each: no coalescing", len(fc.frames))
	}
}

// Acks and replies are written at once when nothing is queued for the
// socket, and queued behind what is otherwise: whatever mix of queued emits,
// replies and acks a handler makes, the client receives them in the order
// they were made. Emits from another goroutine, racing with the handler's
// own writes, keep their order among themselves.
func TestAcksAndRepliesKeepOrderWithQueuedEmits(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.On("mix", func(c *realtime.Ctx) error {
		var round int
		if err := c.Bind(&round); err != nil {
			return err
		}
		seq := 0
		next := func() string { seq++; return fmt.Sprintf("%d.%d", round, seq) }
		for i := range 30 {
			switch i % 3 {
			case 0:
				_ = c.Socket().Emit("q", next()) // queued
			case 1:
				_ = c.Reply("r", next()) // at once, or behind the queue
			default:
				for range 5 {
					_ = c.Socket().Emit("q", next())
				}
			}
		}
		return c.Ack(next())
	})
	var side sync.WaitGroup
	mux.On("side", func(c *realtime.Ctx) error {
		s := c.Socket()
		side.Add(1)
		go func() {
			defer side.Done()
			for i := range 200 {
				_ = s.Emit("side", i)
			}
		}()
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	rc := dialRawConn(t, srv.URL("/"), nil)
	if err := rc.text(`{"event":"side"}`); err != nil {
		t.Fatal(err)
	}
	sideNext := 0
	for round := 1; round <= 20; round++ {
		if err := rc.text(fmt.Sprintf(`{"event":"mix","id":%d,"data":%d}`, round, round)); err != nil {
			t.Fatal(err)
		}
		want := 1
		for {
			env, cf, err := rc.next(10 * time.Second)
			if err != nil || cf != nil {
				t.Fatalf("round %d: %v %v", round, err, cf)
			}
			if env.Event == "side" {
				if string(env.Data) != strconv.Itoa(sideNext) {
					t.Fatalf("side emit %s, want %d", env.Data, sideNext)
				}
				sideNext++
				continue
			}
			var got string
			if err := json.Unmarshal(env.Data, &got); err != nil {
				t.Fatalf("round %d: %s", round, env.Raw)
			}
			if wantS := fmt.Sprintf("%d.%d", round, want); got != wantS {
				t.Fatalf("round %d: got %s (%s), want %s: order lost", round, got, env.Raw, wantS)
			}
			want++
			if env.Ack == int64(round) {
				if want != 72 { // 70 outputs, then the ack
					t.Fatalf("round %d: ack after %d of 70 outputs", round, want-2)
				}
				break
			}
		}
	}
	side.Wait()
	for sideNext < 200 {
		env, cf, err := rc.next(10 * time.Second)
		if err != nil || cf != nil || env.Event != "side" || string(env.Data) != strconv.Itoa(sideNext) {
			t.Fatalf("side emit %d: %+v %v %v", sideNext, env, cf, err)
		}
		sideNext++
	}
}

// An ack of the event's own data (c.Ack(c.Data())) is what encoding/json
// makes of it, sent as it is when it is already compact, and whole even
// when it has to wait behind queued emits while the client's next frames
// arrive (the frame it came in is reused by then).
func TestAckOfTheEventsOwnData(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Data()) })
	mux.On("busy", func(c *realtime.Ctx) error {
		for range 20 {
			_ = c.Socket().Emit("q", strings.Repeat("x", 200))
		}
		return c.Ack(c.Data())
	})
	srv := realtimetest.NewServer(t, mux)
	rc := dialRawConn(t, srv.URL("/"), nil)
	for i, tc := range []struct{ sent, want string }{
		{`{"a":1,"b":[true,null],"c":"d\"e"}`, `{"a":1,"b":[true,null],"c":"d\"e"}`},
		{`{"a": 1, "b" : [ 2 ]}`, `{"a":1,"b":[2]}`},
		{`"<b>&"`, `"\u003cb\u003e\u0026"`},
		{"\"\u2028\"", `"\u2028"`},
	} {
		id := int64(i + 1)
		if err := rc.text(fmt.Sprintf(`{"event":"echo","id":%d,"data":%s}`, id, tc.sent)); err != nil {
			t.Fatal(err)
		}
		env, cf, err := rc.next(10 * time.Second)
		if err != nil || cf != nil || env.Ack != id || string(env.Data) != tc.want {
			t.Fatalf("ack of %s: %+v %v %v, want data %s", tc.sent, env, cf, err, tc.want)
		}
	}
	// Many frames in flight: each ack waits behind 20 queued emits.
	const n = 200
	for i := range n {
		data := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat(strconv.Itoa(i%10), 50))
		if err := rc.text(fmt.Sprintf(`{"event":"busy","id":%d,"data":%s}`, 100+i, data)); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < n; {
		env, cf, err := rc.next(10 * time.Second)
		if err != nil || cf != nil {
			t.Fatalf("after %d acks: %v %v", got, err, cf)
		}
		if env.Event == "q" {
			continue
		}
		want := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, got, strings.Repeat(strconv.Itoa(got%10), 50))
		if env.Ack != int64(100+got) || string(env.Data) != want {
			t.Fatalf("ack %d: %s, want %s", got, env.Raw, want)
		}
		got++
	}
}
