package loly_test

import (
	"context"
	"log"
	"net/http"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/loly"
)

// A loly route served with loly's behaviour: its pages connect unchanged,
// get loly's error messages, and read and write state as loly stored it.
func ExampleConfigure() {
	cfg := realtime.Config{}
	loly.Configure(&cfg)
	mux := realtime.New(cfg)
	mux.Use(loly.Stages()...)
	mux.Route(realtime.Route{
		Namespace: "/counter",
		OnConnect: loly.KeepSocket(func(c *realtime.Ctx) error {
			var count int64
			if _, err := loly.StateOf(c).Get(c.Context(), "counter:value", &count); err != nil {
				return err
			}
			return c.Reply("counter-state", map[string]any{"count": count})
		}),
		Events: map[string]realtime.Event{
			"increment": {
				RateLimit: &realtime.Rate{EventsPerSecond: 5}, // bursts of 10, as loly's
				Handler: func(c *realtime.Ctx) error {
					n, err := loly.StateOf(c).Incr(c.Context(), "counter:value", 1)
					if err != nil {
						return err
					}
					return c.Broadcast("counter-update", map[string]any{"count": n}) // not to the sender
				},
			},
		},
	})
	if err := mux.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	http.Handle("/wss/", mux)
}
