package realtime_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fmt"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// countingSchema counts how often the schema work (decoding and validating
// an event's data) is done.
type countingSchema struct{ n *atomic.Int64 }

func (s countingSchema) Parse(data json.RawMessage) (any, error) {
	s.n.Add(1)
	return realtime.JSON[point]().Parse(data)
}

// A flood of invalid events is limited like any other traffic: with
// RateLimit placed before Validate, as the middleware docs advise for
// hostile clients, the first Burst events get their own error, every later
// one RATE_LIMIT without any schema work, and a socket that keeps going is
// closed with 1008 after AbuseThreshold refusals. Every error is one
// __loly:error: the replies are bounded by the events, never more.
func TestInvalidEventFloodIsRateLimited(t *testing.T) {
	var parses atomic.Int64
	left := make(chan error, 64)
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.RequestID, middleware.Recoverer, middleware.RateLimit(middleware.RateLimitOpts{}), middleware.Validate)
	mux.Handle("typed", realtime.Event{Schema: countingSchema{&parses}, Handler: func(c *realtime.Ctx) error { return nil }})
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.OnDisconnect(func(c *realtime.Ctx) error { left <- c.DisconnectReason(); return nil })
	srv := realtimetest.NewServer(t, mux)

	for _, tc := range []struct {
		name, envelope, first string
	}{
		{"garbage", `not json at all`, realtime.CodeBadMessage},
		{"bad payload", `{"event":"typed","data":{"n":"x"}}`, realtime.CodeBadPayload},
		{"unknown event", `{"event":"nope"}`, realtime.CodeUnknownEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parses.Store(0)
			rc := dialRawConn(t, srv.URL("/"), nil)
			// 600 envelopes in frames of 50, written while this goroutine
			// reads: the client reads, so only the rate limit is at work.
			const total, perFrame = 600, 50
			frame := strings.Repeat(tc.envelope+"\n", perFrame)
			go func() {
				for range total / perFrame {
					if rc.text(frame) != nil {
						return
					}
				}
			}()
			counts := map[string]int{}
			var cf *closeFrame
			for cf == nil {
				env, c, err := rc.next(10 * time.Second)
				if err != nil {
					t.Fatalf("after %v: %v", counts, err)
				}
				cf = c
				if c == nil {
					if env.Event != realtime.EventError {
						t.Fatalf("unexpected %s", env.Raw)
					}
					counts[env.errorData(t).Code]++
				}
			}
			if cf.code != realtime.ClosePolicy {
				t.Fatalf("closed with %v, want 1008", cf)
			}
			own, limited := counts[tc.first], counts[realtime.CodeRateLimit]
			// Every refusal is answered, the one that crosses the
			// threshold included (it was not, once: the socket was
			// already closing when its error was queued), and nothing
			// after it runs.
			if own < realtime.DefaultBurst || own > realtime.DefaultBurst+5 || limited != 500 || len(counts) != 2 {
				t.Fatalf("errors %v: want about %d %s, then RATE_LIMIT up to the abuse threshold of 500", counts, realtime.DefaultBurst, tc.first)
			}
			if n := parses.Load(); n > int64(own) {
				t.Fatalf("the schema ran %d times for %d events let through: rate-limited events were validated", n, own)
			}
			var ce *realtime.CloseError
			for ce == nil { // skip the closes of earlier clients
				reason := receive(t, left, "the disconnect")
				if !errorsAs(reason, &ce) || ce.ByClient {
					ce = nil
					continue
				}
				if ce.Code != realtime.ClosePolicy {
					t.Fatalf("disconnect reason %v, want 1008", reason)
				}
			}
			t.Logf("%d %s, %d RATE_LIMIT, then %v; schema runs: %d", own, tc.first, limited, cf, parses.Load())
			stillServes(t, srv)
		})
	}
}

// A socket closed for rate-limit abuse sees its RATE_LIMIT errors and then
// the 1008 close, though it never stops sending.
func TestAbusiveSocketThatKeepsSendingGetsItsCloseCode(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.RateLimit(middleware.RateLimitOpts{
		PerSocket:      &realtime.Rate{EventsPerSecond: 1, Burst: 1},
		AbuseThreshold: 50,
	}))
	mux.On("x", func(c *realtime.Ctx) error { return nil })
	srv := realtimetest.NewServer(t, mux)
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			nc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b := startBusyClient(t, nc, `{"event":"x"}`)
			envs, cf := b.untilClose(t, 10*time.Second)
			codes := errorCodes(t, envs)
			if len(codes) < 49 || codes[len(codes)-1] != realtime.CodeRateLimit {
				t.Fatalf("%d errors before the close (%v...); want the 50 RATE_LIMIT refusals", len(codes), codes[:min(3, len(codes))])
			}
			if cf.code != realtime.ClosePolicy {
				t.Fatalf("%v, want 1008", cf)
			}
		})
	}
}
