package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
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

func TestBadInput(t *testing.T) {
	srv := realtimetest.NewServer(t, protocolMux(realtime.Config{}))
	long := strings.Repeat("e", realtime.MaxEventNameBytes+1)
	tests := []struct {
		name    string
		frame   string
		binary  bool
		code    string
		event   string
		details map[string]any
		// ack is the id whose ack must carry the error too (0: none).
		ack int64
		// noAck is an id that must not be acked.
		noAck int64
	}{
		{name: "malformed JSON", frame: `{"event":"echo",`, code: realtime.CodeBadMessage},
		{name: "not an object", frame: `["echo"]`, code: realtime.CodeBadMessage},
		{name: "missing event", frame: `{"data":1}`, code: realtime.CodeBadMessage},
		{name: "null event", frame: `{"event":null,"data":1}`, code: realtime.CodeBadMessage},
		{name: "empty event", frame: `{"event":""}`, code: realtime.CodeBadMessage},
		{name: "event not a string, acked", frame: `{"event":5,"id":900}`, code: realtime.CodeBadMessage, ack: 900},
		{name: "typed data of the wrong type", frame: `{"event":"typed","data":{"n":"x"},"id":901}`,
			code: realtime.CodeBadPayload, event: "typed", details: map[string]any{"n": "must be an integer"}, ack: 901},
		{name: "bound data of the wrong type", frame: `{"event":"bind","data":{"s":5},"id":902}`,
			code: realtime.CodeBadPayload, event: "bind", details: map[string]any{"s": "must be a string"}, ack: 902},
		{name: "unknown event", frame: `{"event":"nope"}`, code: realtime.CodeUnknownEvent, event: "nope"},
		{name: "unknown event, acked", frame: `{"event":"nope","id":903}`, code: realtime.CodeUnknownEvent, event: "nope", ack: 903},
		{name: "reserved prefix", frame: `{"event":"__loly:x"}`, code: realtime.CodeBadMessage, event: "__loly:x"},
		{name: "lifecycle name", frame: `{"event":"$connect"}`, code: realtime.CodeBadMessage, event: "$connect"},
		{name: "lifecycle name, acked", frame: `{"event":"$disconnect","id":904}`, code: realtime.CodeBadMessage, event: "$disconnect", ack: 904},
		{name: "binary frame", frame: `{"event":"echo"}`, binary: true, code: realtime.CodeBadMessage},
		{name: "invalid UTF-8", frame: "{\"event\":\"echo\",\"data\":\"\xff\xfe\"}", code: realtime.CodeBadMessage},
		{name: "ack id 0", frame: `{"event":"echo","id":0}`, code: realtime.CodeBadMessage, event: "echo"},
		{name: "ack id -1", frame: `{"event":"echo","id":-1}`, code: realtime.CodeBadMessage, event: "echo"},
		{name: "ack id 1.5", frame: `{"event":"echo","id":1.5}`, code: realtime.CodeBadMessage, event: "echo"},
		{name: "ack id string", frame: `{"event":"echo","id":"7"}`, code: realtime.CodeBadMessage, event: "echo", noAck: 7},
		{name: "event name of 129 bytes", frame: `{"event":"` + long + `"}`, code: realtime.CodeBadMessage},
		{name: "event name of 128 bytes is only unknown", frame: `{"event":"` + long[1:] + `"}`,
			code: realtime.CodeUnknownEvent, event: long[1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := dial(t, srv, "/")
			var err error
			if tt.binary {
				err = cl.SendBinary([]byte(tt.frame))
			} else {
				err = cl.SendRaw([]byte(tt.frame))
			}
			if err != nil {
				t.Fatal(err)
			}
			// The same socket still serves a valid request, and once its
			// ack is back everything caused by the bad frame has arrived.
			syncEcho(t, cl)
			evs := cl.Events()
			if len(evs) != 1 || evs[0].Event != realtime.EventError {
				t.Fatalf("want exactly one %s, got %d envelopes: %s", realtime.EventError, len(evs), raws(evs))
			}
			e, err := evs[0].ErrorData()
			if err != nil {
				t.Fatal(err)
			}
			checkError(t, e, tt.code, tt.event, tt.details)
			if tt.ack > 0 {
				m, err := cl.WaitAck(testkit.Context(t), tt.ack)
				if err != nil {
					t.Fatalf("error ack: %v", err)
				}
				if m.Error == nil {
					t.Fatalf("ack %d carries no error: %s", tt.ack, m.Raw)
				}
				checkError(t, m.Error, tt.code, tt.event, tt.details)
			}
			if tt.noAck > 0 {
				done, cancel := context.WithCancel(context.Background())
				cancel()
				if m, err := cl.WaitAck(done, tt.noAck); err == nil {
					t.Fatalf("id %d was acked: %s", tt.noAck, m.Raw)
				}
			}
		})
	}
}

func raws(ms []realtimetest.Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.Write(m.Raw)
		b.WriteByte(' ')
	}
	return b.String()
}

func checkError(t *testing.T, e *realtime.Error, code, event string, details map[string]any) {
	t.Helper()
	if e.Code != code || e.Event != event || e.Message == "" {
		t.Errorf("error = {code %q, event %q, message %q}, want {code %q, event %q, some message}", e.Code, e.Event, e.Message, code, event)
	}
	if details != nil && !reflect.DeepEqual(e.Details, details) {
		t.Errorf("details = %#v, want %#v", e.Details, details)
	}
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

func TestOversizedFrameCloses1009(t *testing.T) {
	const limit = 1024
	srv := realtimetest.NewServer(t, protocolMux(realtime.Config{MaxPayloadBytes: limit}))
	cl := dial(t, srv, "/")
	frameOf := func(size int, id int64) []byte {
		head := `{"event":"echo","id":` + strconv.FormatInt(id, 10) + `,"data":"`
		pad := size - len(head) - len(`"}`)
		return []byte(head + strings.Repeat("x", pad) + `"}`)
	}
	at := frameOf(limit, 1)
	if len(at) != limit {
		t.Fatalf("frame is %d bytes", len(at))
	}
	if err := cl.SendRaw(at); err != nil {
		t.Fatal(err)
	}
	m, err := cl.WaitAck(testkit.Context(t), 1)
	if err != nil || m.Error != nil || len(m.Data) != limit-len(`{"event":"echo","id":1,"data":}`) {
		t.Fatalf("a frame of exactly MaxPayloadBytes: ack %s, %v", m.Raw, err)
	}
	if err := cl.SendRaw(frameOf(limit+1, 2)); err != nil {
		t.Fatal(err)
	}
	code, err := cl.WaitClosed(testkit.Context(t))
	if err != nil || code != realtime.CloseTooBig {
		t.Fatalf("close code %d (%v), want %d", code, err, realtime.CloseTooBig)
	}
	if _, err := cl.WaitAck(context.Background(), 2); err == nil {
		t.Fatal("the oversized frame was handled")
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
