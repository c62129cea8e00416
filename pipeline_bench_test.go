package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/invopop/validation"
	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/cluster"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/middleware"
)

// The benchmarks of this file drive servers through in-memory connections
// (harness_bench_test.go): what they measure is the server's own CPU and
// allocations per event or per broadcast, with no kernel and no client
// decoding. Each has a bare gws counterpart on the same harness, so that
// what gws itself costs (reading and framing) can be told apart from what
// the Mux adds:
//
//	framework allocations per event = allocs/op(Mux) - allocs/op(gws)

type pipeMsg struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

func (m pipeMsg) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.Room, validation.Required, validation.Length(1, 32)),
		validation.Field(&m.Text, validation.Required, validation.Length(1, 280)))
}

var (
	eventWithAck = []byte(`{"event":"send","id":7,"data":{"room":"lobby","text":"hello there"}}`)
	eventNoAck   = []byte(`{"event":"send","data":{"room":"lobby","text":"hello there"}}`)
)

func benchConfig() realtime.Config {
	return realtime.Config{
		Logger: slog.New(slog.DiscardHandler),
		Limits: realtime.Limits{ConnectionsPerIP: -1},
	}
}

// benchAuth binds the user named by the token query parameter.
func benchAuth(c *realtime.Ctx) (*realtime.User, error) {
	if t := middleware.QueryToken(c.Request()); t != "" {
		return &realtime.User{ID: t}, nil
	}
	return nil, nil
}

// benchStages is the standard stack, as a production server would run it:
// RequestID, Logger writing JSON at Info to io.Discard (every line is
// formatted, then thrown away), Recoverer, Auth, Validate, Guard, and
// RateLimit with buckets that are consulted on every event but never run
// dry.
func benchStages() []func(realtime.Handler) realtime.Handler {
	return []func(realtime.Handler) realtime.Handler{
		middleware.RequestID,
		middleware.Logger(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		middleware.Recoverer,
		middleware.AuthWithOpts(middleware.AuthOpts{Hook: benchAuth, Required: true}),
		middleware.Validate,
		middleware.Guard,
		middleware.RateLimit(middleware.RateLimitOpts{PerSocket: &realtime.Rate{EventsPerSecond: 1e9, Burst: 1 << 30}}),
	}
}

// benchTypedMux serves "send" behind the seven stages with a Typed handler
// that acks the validated T, with the same guard and rate limit as
// benchEventMux.
func benchTypedMux[T any](b *testing.B) *realtime.Mux {
	mux := realtime.New(benchConfig())
	mux.Use(benchStages()...)
	mux.Handle("send", realtime.Event{
		Schema:    realtime.JSON[T](),
		Guard:     func(c *realtime.Ctx) (bool, error) { return c.User() != nil, nil },
		RateLimit: &realtime.Rate{EventsPerSecond: 1e9, Burst: 1 << 30},
		Handler:   realtime.Typed(func(c *realtime.Ctx, m T) error { return c.Ack(m) }),
	})
	if err := mux.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mux.Shutdown(context.Background()) })
	return mux
}

// benchStageNames names the stages of benchStages, in order.
var benchStageNames = []string{"requestid", "logger", "recoverer", "auth", "validate", "guard", "ratelimit"}

// benchEventMux serves one event, "send", with a schema, a guard and a rate
// limit behind the seven standard stages, or with none of them behind an
// empty chain (Start refuses settings that no stage enforces). Its handler
// does nothing, or, with typed, is a realtime.Typed handler that acks the
// message it was given: what is measured is the framework and the stages,
// not the application.
func benchEventMux(b *testing.B, stages, typed bool) *realtime.Mux {
	var h realtime.Handler = func(*realtime.Ctx) error { return nil }
	if typed {
		h = realtime.Typed(func(c *realtime.Ctx, m pipeMsg) error { return c.Ack(m) })
	}
	if stages {
		return benchStageMux(b, h, realtime.SettingGuard|realtime.SettingRateLimit|realtime.SettingSchema, benchStages()...)
	}
	return benchStageMux(b, h, 0)
}

// benchStageMux serves "send" with handler h behind the stages, declaring
// the settings of declare (the schema, the guard, the rate limit).
func benchStageMux(b *testing.B, h realtime.Handler, declare realtime.Setting, stages ...func(realtime.Handler) realtime.Handler) *realtime.Mux {
	mux := realtime.New(benchConfig())
	if len(stages) > 0 {
		mux.Use(stages...)
	}
	ev := realtime.Event{Handler: h}
	if declare&realtime.SettingSchema != 0 {
		ev.Schema = realtime.JSON[pipeMsg]()
	}
	if declare&realtime.SettingGuard != 0 {
		ev.Guard = func(c *realtime.Ctx) (bool, error) { return c.User() != nil, nil }
	}
	if declare&realtime.SettingRateLimit != 0 {
		ev.RateLimit = &realtime.Rate{EventsPerSecond: 1e9, Burst: 1 << 30}
	}
	mux.Handle("send", ev)
	if err := mux.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mux.Shutdown(context.Background()) })
	return mux
}

// benchGWS is bare gws: it writes back every frame that asks for an ack
// (holds an "id"), at once, from the read goroutine.
type benchGWS struct {
	mu    sync.Mutex
	conns []*gws.Conn
}

func (e *benchGWS) OnOpen(ws *gws.Conn) {
	e.mu.Lock()
	e.conns = append(e.conns, ws)
	e.mu.Unlock()
	_ = ws.WriteMessage(gws.OpcodeText, []byte(`{"event":"hello"}`))
}
func (e *benchGWS) OnClose(*gws.Conn, error)      {}
func (e *benchGWS) OnPing(ws *gws.Conn, p []byte) { _ = ws.WritePong(p) }
func (e *benchGWS) OnPong(*gws.Conn, []byte)      {}
func (e *benchGWS) OnMessage(ws *gws.Conn, m *gws.Message) {
	if bytes.Contains(m.Bytes(), []byte(`"id":`)) {
		_ = ws.WriteMessage(gws.OpcodeText, m.Bytes())
	}
	_ = m.Close()
}

func benchGWSHandler(e *benchGWS) http.Handler {
	up := gws.NewUpgrader(e, &gws.ServerOption{ReadMaxPayloadSize: 64 << 10})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		ws.ReadLoop()
	})
}

// BenchmarkEvent is one client event through the whole server path: the
// frame read by gws, split, decoded, routed, run through the chain (none,
// or the seven standard stages) to a handler that does nothing, and — in
// the ack variants — the automatic ack written.
//
// seven_stages_typed is the product's usual event: the seven stages, then
// a realtime.Typed handler that acks the validated message with itself,
// which is encoded (the echo of the outside benchmark). Its message is
// validated with github.com/invopop/validation, rules built on every call
// (typed), built once (typed_rules_once), or by hand, with code that
// allocates nothing for a valid message (typed_by_hand: what remains is the
// framework's and the stages' own cost).
//
//   - ack: every event asks for an ack, and the next is sent once it
//     arrives (a round trip, two goroutine switches included).
//   - noack: 100 frames at a time, only the last one asking for an ack:
//     the cost of dispatch alone.
//
// gws_echo is the reference on the same harness: bare gws reading the frame
// and, for the ack variant, writing it back.
func BenchmarkEvent(b *testing.B) {
	for _, mode := range []string{"ack", "noack"} {
		b.Run("gws_echo/"+mode, func(b *testing.B) {
			benchEvents(b, benchGWSHandler(&benchGWS{}), "/", mode)
		})
		b.Run("empty_chain/"+mode, func(b *testing.B) {
			benchEvents(b, benchEventMux(b, false, false), "/wss/?token=u1", mode)
		})
		b.Run("seven_stages/"+mode, func(b *testing.B) {
			benchEvents(b, benchEventMux(b, true, false), "/wss/?token=u1", mode)
		})
		b.Run("seven_stages_typed/"+mode, func(b *testing.B) {
			benchEvents(b, benchEventMux(b, true, true), "/wss/?token=u1", mode)
		})
		b.Run("seven_stages_typed_rules_once/"+mode, func(b *testing.B) {
			benchEvents(b, benchTypedMux[pipeMsgPrebuilt](b), "/wss/?token=u1", mode)
		})
		b.Run("seven_stages_typed_by_hand/"+mode, func(b *testing.B) {
			benchEvents(b, benchTypedMux[pipeMsgByHand](b), "/wss/?token=u1", mode)
		})
	}
}

// BenchmarkStage is BenchmarkEvent/*/noack with one stage at a time: what
// each of the seven standard stages costs per event, Validate including the
// schema's decoding and its Validate method (github.com/invopop/validation,
// with the rules written inline, built on every call: the costlier way, as
// the bench tool's server writes it). Auth alone binds the user at connect
// only.
func BenchmarkStage(b *testing.B) {
	for i, name := range benchStageNames {
		b.Run(name, func(b *testing.B) {
			stage := benchStages()[i]
			stages := []func(realtime.Handler) realtime.Handler{stage}
			var declare realtime.Setting
			switch name {
			case "validate":
				declare = realtime.SettingSchema
			case "guard":
				declare = realtime.SettingGuard
				// The event's guard wants a user: bind one first.
				stages = []func(realtime.Handler) realtime.Handler{middleware.AuthWithOpts(middleware.AuthOpts{Hook: benchAuth}), stage}
			case "ratelimit":
				declare = realtime.SettingRateLimit
			}
			nop := func(*realtime.Ctx) error { return nil }
			benchEvents(b, benchStageMux(b, nop, declare, stages...), "/wss/?token=u1", "noack")
		})
	}
}

func benchEvents(b *testing.B, h http.Handler, path, mode string) {
	s := newBenchSink(b)
	mc := memConnect(h, s, path)
	defer mc.close()
	s.wait(b, 1) // __loly:connected, or gws's hello

	ack, noAck := maskedFrame(eventWithAck), maskedFrame(eventNoAck)
	const batch = 100
	frames := bytes.Repeat(noAck, batch-1)
	frames = append(frames, ack...)
	var tail []byte
	if mode == "noack" && b.N%batch != 0 {
		tail = append(bytes.Repeat(noAck, b.N%batch-1), ack...)
	}
	base := s.count()
	b.ReportAllocs()
	b.ResetTimer()
	switch mode {
	case "ack":
		for i := range b.N {
			mc.conn.feed(ack)
			s.wait(b, base+int64(i)+1)
		}
	default:
		acks := int64(0)
		for sent := 0; sent < b.N; sent += batch {
			if b.N-sent >= batch {
				mc.conn.feed(frames)
			} else {
				mc.conn.feed(tail)
			}
			acks++
			s.wait(b, base+acks)
		}
	}
	b.StopTimer()
	if got := s.count() - base; mode == "ack" && got != int64(b.N) {
		b.Fatalf("%d envelopes for %d events: an event failed", got, b.N)
	}
}

type benchFanoutMsgT struct {
	From string `json:"from"`
	Room string `json:"room"`
	Text string `json:"text"`
}

var benchFanoutMsg = benchFanoutMsgT{From: "u1", Room: "lobby", Text: "a fanout message of a typical chat size"}

// BenchmarkBroadcast is one broadcast to a room of 1,000 local sockets,
// until the last socket's frame is written: the envelope encoded once,
// queued for every member, and written by each socket's write job. In
// "one" the next broadcast starts when the last delivery is written; in
// "burst200" 200 are emitted back to back and their deliveries waited for
// together, so that the send queues coalesce (ns/op is still per
// broadcast). gws_broadcaster is the reference: bare gws with
// gws.Broadcaster, one frame per message per socket.
func BenchmarkBroadcast(b *testing.B) {
	const sockets = 1000
	for _, burst := range []int{1, 200} {
		name := "one"
		if burst > 1 {
			name = "burst200"
		}
		b.Run("gws_broadcaster/"+name, func(b *testing.B) {
			e := &benchGWS{}
			s, clients := memConnectMany(b, benchGWSHandler(e), "/", sockets)
			defer memCloseAll(clients)
			benchBroadcast(b, s, sockets, burst, func() {
				payload, err := json.Marshal(benchFanoutMsg)
				if err != nil {
					b.Fatal(err)
				}
				bc := gws.NewBroadcaster(gws.OpcodeText, payload)
				e.mu.Lock()
				for _, ws := range e.conns {
					_ = bc.Broadcast(ws)
				}
				e.mu.Unlock()
				_ = bc.Close()
			})
		})
		b.Run("realtime/"+name, func(b *testing.B) {
			mux := realtime.New(benchConfig())
			mux.OnConnect(func(c *realtime.Ctx) error { return c.Join("lobby") })
			if err := mux.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = mux.Shutdown(context.Background()) })
			s, clients := memConnectMany(b, mux, "/wss/", sockets)
			defer memCloseAll(clients)
			room := mux.In("/").ToRoom("lobby")
			benchBroadcast(b, s, sockets, burst, func() {
				if err := room.Emit("chat:message", benchFanoutMsg); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// memConnectMany opens n in-memory connections and waits for the first
// envelope of each (__loly:connected, or gws's hello).
func memConnectMany(b *testing.B, h http.Handler, path string, n int) (*benchSink, []*memClient) {
	s := newBenchSink(b)
	clients := make([]*memClient, n)
	for i := range clients {
		clients[i] = memConnect(h, s, path)
	}
	s.wait(b, int64(n))
	return s, clients
}

func memCloseAll(clients []*memClient) {
	for _, c := range clients {
		c.close()
	}
}

func benchBroadcast(b *testing.B, s *benchSink, sockets, burst int, emit func()) {
	base := s.count()
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(burst, b.N-sent)
		for range n {
			emit()
		}
		sent += n
		s.wait(b, base+int64(sent)*int64(sockets))
	}
}

// BenchmarkClusterEmit is one emit to a room whose only member is on
// another instance: published to Redis by one Mux, received by the other's
// broker, delivered to its socket and written. It needs a Redis (REDIS_URL,
// default 127.0.0.1:6379) and is skipped without one.
func BenchmarkClusterEmit(b *testing.B) {
	ctx := context.Background()
	newInstance := func(prefix string) *realtime.Mux {
		client, _ := redistest.Client(b)
		backends, err := cluster.FromClient(ctx, client, cluster.Options{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		cfg := benchConfig()
		backends.Configure(&cfg)
		mux := realtime.New(cfg)
		mux.OnConnect(func(c *realtime.Ctx) error { return c.Join("lobby") })
		if err := mux.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = mux.Shutdown(ctx)
			_ = backends.Close()
		})
		return mux
	}
	prefix := redistest.Prefix(b)
	a, other := newInstance(prefix), newInstance(prefix)
	s, clients := memConnectMany(b, other, "/wss/", 1)
	defer memCloseAll(clients)
	room := a.In("/").ToRoom("lobby")
	benchBroadcast(b, s, 1, 1, func() {
		if err := room.Emit("chat:message", benchFanoutMsg); err != nil {
			b.Fatal(err)
		}
	})
}

// The same message with other ways of validating it, for BenchmarkSchema.
type (
	pipeMsgPlain    struct{ Room, Text string }
	pipeMsgPrebuilt struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}
	pipeMsgByHand struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}
)

var (
	roomRules = []validation.Rule{validation.Required, validation.Length(1, 32)}
	textRules = []validation.Rule{validation.Required, validation.Length(1, 280)}
)

func (m pipeMsgPrebuilt) Validate() error {
	return validation.ValidateStruct(&m, validation.Field(&m.Room, roomRules...), validation.Field(&m.Text, textRules...))
}

func (m pipeMsgByHand) Validate() error {
	if n := len(m.Room); n < 1 || n > 32 {
		return validation.Errors{"room": errors.New("the length must be between 1 and 32")}
	}
	if n := len(m.Text); n < 1 || n > 280 {
		return validation.Errors{"text": errors.New("the length must be between 1 and 280")}
	}
	return nil
}

// BenchmarkSchema is the Validate stage's work on one event's data,
// realtime.JSON[T]().Parse: decoding, then T's Validate method written four
// ways — none, github.com/invopop/validation with the rules written inline
// (built on every call), the same with the rules built once as the README
// writes them, and by hand. The difference is the validation library's, not the framework's.
func BenchmarkSchema(b *testing.B) {
	data := json.RawMessage(`{"room":"lobby","text":"hello there"}`)
	for _, tc := range []struct {
		name   string
		schema realtime.Schema
	}{
		{"decode_only", realtime.JSON[pipeMsgPlain]()},
		{"invopop_rules_per_call", realtime.JSON[pipeMsg]()},
		{"invopop_rules_built_once", realtime.JSON[pipeMsgPrebuilt]()},
		{"by_hand", realtime.JSON[pipeMsgByHand]()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.schema.Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
