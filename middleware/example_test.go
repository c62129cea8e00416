package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// Example composes the standard stages on a mux: every event gets a request
// id and a log line, panics become INTERNAL_ERROR, the identity comes from the
// handshake once, and each event's own settings (here a guard and a rate
// limit) are read from its route.
func Example() {
	log := slog.New(slog.DiscardHandler) // use your logger
	mux := realtime.New(realtime.Config{Logger: log})
	mux.Use(
		middleware.RequestID,
		middleware.Logger(log),
		middleware.Recoverer,
		middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
			if tok := middleware.HandshakeToken(c, "session"); strings.HasPrefix(tok, "user-") {
				return &realtime.User{ID: strings.TrimPrefix(tok, "user-")}, nil
			}
			return nil, errors.New("no valid token")
		}),
		middleware.Validate,
		middleware.Guard,
		middleware.RateLimit(middleware.RateLimitOpts{}),
	)
	mux.Route(realtime.Route{
		Namespace: "/ops",
		Events: map[string]realtime.Event{
			"whoami": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.UserID()) }},
			"shutdown": {
				Guard:     func(c *realtime.Ctx) (bool, error) { return c.UserID() == "admin", nil },
				RateLimit: &realtime.Rate{EventsPerSecond: 1, Burst: 1},
				Handler:   func(c *realtime.Ctx) error { return c.Ack("shutting down") },
			},
		},
	})
	if err := mux.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer mux.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/wss/ops"
	cl, err := realtimetest.Dial(ctx, url, &realtimetest.Options{
		Header: http.Header{"Authorization": {"Bearer user-ada"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	who, _ := cl.Request(ctx, "whoami", nil)
	fmt.Println("whoami:", string(who))
	_, err = cl.Request(ctx, "shutdown", nil)
	fmt.Println("shutdown:", err)
	// Output:
	// whoami: "ada"
	// shutdown: FORBIDDEN: forbidden
}
