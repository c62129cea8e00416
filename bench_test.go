package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/wire"
)

// discard is a link.Conn that sends nothing, for benchmarks of the core
// alone.
type discard struct{}

func (discard) Deliver(*link.Message)           {}
func (discard) Ack(int64, []byte, link.AckKind) {}
func (discard) Accept(link.Accepted)            {}
func (discard) Refuse(string, []byte, uint16)   {}
func (discard) Close(uint16, string)            {}
func (discard) Request(context.Context, string, []byte) (json.RawMessage, error) {
	return nil, link.ErrNoClientAcks
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
	sock := newSocket(mux.srv.namespaces["/"], discard{}, nil, "")
	line := []byte(`{"event":"chat:send","data":{"room":"lobby","text":"hello there"}}`)
	b.ReportAllocs()
	for b.Loop() {
		env, problem := wire.Decode(line)
		sock.handle(env, problem)
	}
	if handled == 0 {
		b.Fatal("the handler never ran")
	}
}
