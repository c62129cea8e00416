package loly_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/loly"
	"github.com/lolyjs/realtime/middleware"
)

var _ = row("A declared setting needs its stage.", func(t *testing.T) {
	route := realtime.Route{Namespace: "/chat", Events: map[string]realtime.Event{
		"send": {Handler: nop, Guard: func(*realtime.Ctx) (bool, error) { return true, nil },
			RateLimit: &realtime.Rate{EventsPerSecond: 5, Burst: 10}},
	}}
	// Ported as it was, without stages: Start names what is not enforced.
	mux := realtime.New(quiet())
	mux.Route(route)
	err := mux.Start(context.Background())
	for _, want := range []string{`route /chat event "send": Event.Guard`, `route /chat event "send": Event.RateLimit`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Start = %v; want it to name %s", err, want)
		}
	}

	// loly's stages enforce every setting.
	serve(t, quiet(), loly.Stages(), route)

	// A replacement guard counts once it is recorded.
	myGuard := func(next realtime.Handler) realtime.Handler { return middleware.Guard(next) }
	mux = realtime.New(quiet())
	mux.Use(realtime.Enforces(myGuard, realtime.SettingGuard), middleware.RateLimit(loly.RateLimitOpts()))
	mux.Route(route)
	if err := mux.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = mux.Shutdown(context.Background())
})
