package middleware_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

type benchMsg struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

func (m benchMsg) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.Room, validation.Required, validation.Length(1, 32)),
		validation.Field(&m.Text, validation.Required, validation.Length(1, 280)))
}

// benchServer serves one "send" event behind all seven standard stages
// (schema, guard, rate limit), or behind none (its Typed handler applying
// the schema). The root package has no way to run a
// Ctx without a socket, so the benchmarks go over a real loopback socket;
// the difference between the two chains is the cost of the stages.
func benchServer(b *testing.B, stages bool) (*realtimetest.Server, *realtimetest.Client) {
	mux := realtime.New(quiet())
	if stages {
		mux.Use(
			middleware.RequestID,
			middleware.Logger(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))),
			middleware.Recoverer,
			middleware.Auth(headerAuth),
			middleware.Validate,
			middleware.Guard,
			// Buckets that are consulted on every event but never run dry.
			middleware.RateLimit(middleware.RateLimitOpts{PerSocket: &realtime.Rate{EventsPerSecond: 1e7, Burst: 1e6}}),
		)
	}
	ev := realtime.Event{
		Schema: realtime.JSON[benchMsg](),
		Handler: realtime.Typed(func(c *realtime.Ctx, m benchMsg) error {
			if m.Room == "" {
				return c.Error("EMPTY", "empty", nil)
			}
			return nil
		}),
	}
	if stages {
		// Without the stages, nothing would enforce these (Start refuses).
		ev.Guard = func(c *realtime.Ctx) (bool, error) { return c.UserID() != "banned", nil }
		ev.RateLimit = &realtime.Rate{EventsPerSecond: 1e7, Burst: 1e6}
	}
	mux.Handle("send", ev)
	srv := realtimetest.NewServer(b, mux)
	return srv, realtimetest.MustDial(b, srv.URL("/"), as("bench-user"))
}

// benchCtx is one deadline for a whole benchmark, so that the waits do not
// allocate a context each.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkChain measures one event through the seven standard stages
// (RequestID, Logger writing JSON at Info to io.Discard, Recoverer, Auth,
// Validate with a small struct schema, Guard, RateLimit) against an empty
// chain, over a real loopback socket. Allocations count both ends of the
// socket, client included, since they share the process.
//
//   - roundtrip: one request, wait for its ack, repeat: latency per event.
//   - pipelined: 100 envelopes a frame, then wait for their acks: the
//     server's cost per event with the network mostly amortised.
func BenchmarkChain(b *testing.B) {
	for _, chain := range []struct {
		name   string
		stages bool
	}{{"empty", false}, {"seven", true}} {
		b.Run(chain.name+"/roundtrip", func(b *testing.B) {
			_, cl := benchServer(b, chain.stages)
			data := benchMsg{Room: "lobby", Text: "hello"}
			ctx := benchCtx(b)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := cl.Request(ctx, "send", data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(chain.name+"/pipelined", func(b *testing.B) {
			_, cl := benchServer(b, chain.stages)
			const perFrame = 100
			var frame bytes.Buffer
			ids := make([]int64, 0, perFrame)
			ctx := benchCtx(b)
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += perFrame {
				frame.Reset()
				ids = ids[:0]
				for i := 0; i < perFrame && sent+i < b.N; i++ {
					id := cl.NextAckID()
					ids = append(ids, id)
					if i > 0 {
						frame.WriteByte('\n')
					}
					fmt.Fprintf(&frame, `{"event":"send","id":%d,"data":{"room":"lobby","text":"hello"}}`, id)
				}
				if err := cl.SendRaw(frame.Bytes()); err != nil {
					b.Fatal(err)
				}
				for _, id := range ids {
					m, err := cl.WaitAck(ctx, id)
					if err != nil || m.Error != nil {
						b.Fatalf("ack %d: %v %s", id, err, m.Raw)
					}
				}
			}
		})
	}
}
