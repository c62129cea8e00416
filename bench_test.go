package realtime

import (
	"context"
	"log/slog"
	"testing"
)

var benchLine = []byte(`{"event":"chat:send","data":{"room":"lobby","text":"hello there"},"id":7}`)

func BenchmarkDecodeEnvelope(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		env, err := decodeEnvelope(benchLine)
		if err != nil || env.id != 7 || env.eventName() != "chat:send" {
			b.Fatalf("decode: %+v %v", env, err)
		}
	}
}

type benchMessage struct {
	From string `json:"from"`
	Room string `json:"room"`
	Text string `json:"text"`
}

// BenchmarkEncodeEvent is the work of one emit before delivery: the data
// encoded once, wrapped in its envelope.
func BenchmarkEncodeEvent(b *testing.B) {
	msg := benchMessage{From: "u1", Room: "lobby", Text: "hello there"}
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		payload, err := encodeData(msg)
		if err != nil {
			b.Fatal(err)
		}
		out = appendEvent(make([]byte, 0, len(payload)+40), "chat:message", payload)
	}
	if string(out) != `{"event":"chat:message","data":{"from":"u1","room":"lobby","text":"hello there"}}` {
		b.Fatalf("encoded %s", out)
	}
}

// BenchmarkDispatch runs one client envelope, as the read loop does, from
// decoding to the handler's return, through chains of no-op stages. The
// event asks for no ack, so nothing is written.
func BenchmarkDispatch(b *testing.B) {
	for _, stages := range []int{0, 6} {
		b.Run(map[int]string{0: "empty_chain", 6: "six_stages"}[stages], func(b *testing.B) {
			benchDispatch(b, stages)
		})
	}
}

func benchDispatch(b *testing.B, stages int) {
	mux := New(Config{Logger: slog.New(slog.DiscardHandler)})
	for range stages {
		mux.Use(func(next Handler) Handler { return func(c *Ctx) error { return next(c) } })
	}
	handled := 0
	mux.On("chat:send", func(c *Ctx) error { handled++; return nil })
	if err := mux.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mux.Shutdown(context.Background()) })
	ns := mux.srv.namespaces["/"]
	c := &conn{srv: mux.srv, ns: ns}
	c.sock = &Socket{id: "bench", ns: ns, link: c, ctx: context.Background()}
	line := []byte(`{"event":"chat:send","data":{"room":"lobby","text":"hello there"}}`)
	b.ReportAllocs()
	for b.Loop() {
		c.dispatch(line)
	}
	if handled == 0 {
		b.Fatal("the handler never ran")
	}
}
