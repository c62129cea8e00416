package realtime_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// A socket refused at connect that had already sent events gets its
// UNAUTHORIZED error and the 4401 close, every time.
func TestRefusedSocketThatKeepsSendingGetsItsCloseCode(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		time.Sleep(5 * time.Millisecond) // the client's events pile up meanwhile
		return nil, errors.New("bad token")
	}))
	mux.On("x", func(c *realtime.Ctx) error { return nil })
	srv := realtimetest.NewServer(t, mux)
	event := `{"event":"x","data":"` + strings.Repeat("a", 512) + `"}`
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			nc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b := startBusyClient(t, nc, event)
			envs, cf := b.untilClose(t, 10*time.Second)
			if codes := errorCodes(t, envs); len(envs) != 1 || len(codes) != 1 || codes[0] != realtime.CodeUnauthorized {
				t.Fatalf("before the close: %+v; want one UNAUTHORIZED error", envs)
			}
			if cf.code != realtime.CloseUnauthorized {
				t.Fatalf("%v, want 4401", cf)
			}
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
