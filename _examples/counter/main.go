// Command counter is loly's counter example in Go: one shared number that
// every client sees change, kept in the store, with a rate limit on the
// events that change it.
//
//	go run ./_examples/counter            # then open http://localhost:8080
//	go run ./_examples/counter -addr :9000
//
// Clients connect to ws://localhost:8080/wss/counter and get counter-state
// at once. They send increment and decrement with {"by": 1..10} (by may be
// left out: 1), reset, and get-users, whose ack lists who is connected.
// Every change reaches every client as counter-update. Five changes per
// second are allowed per socket, with bursts of ten; more get RATE_LIMIT.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/store"
)

//go:embed index.html
var page []byte

// counterKey is where the store keeps the count.
const counterKey = "counter:value"

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		slog.Error("counter: " + err.Error())
		os.Exit(1)
	}
}

func run(addr string) error {
	mux := realtime.New(realtime.Config{})
	mux.Use(
		middleware.RequestID,
		middleware.Logger(slog.Default()),
		middleware.Recoverer,
		middleware.Auth(guestUser),
		middleware.Validate,
		// Reads each event's RateLimit from the route below.
		middleware.RateLimit(middleware.RateLimitOpts{}),
	)
	mux.Route(counterRoute())
	if err := mux.Start(context.Background()); err != nil {
		return err
	}

	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	r.Handle("/wss/*", mux)

	srv := &http.Server{Addr: addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	slog.Info("counter: listening on " + ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(ctx), mux.Shutdown(ctx))
}

// guestUser names each socket guest-xxxx, so that get-users has something
// to list. A real application authenticates the handshake here.
func guestUser(*realtime.Ctx) (*realtime.User, error) {
	id := fmt.Sprintf("guest-%04x", rand.IntN(1<<16))
	return &realtime.User{ID: id, Info: id}, nil
}

func counterRoute() realtime.Route {
	// loly's limit for the events that change the counter.
	limit := &realtime.Rate{EventsPerSecond: 5, Burst: 10}
	return realtime.Route{
		Namespace: "/counter",
		OnConnect: sendState,
		Events: map[string]realtime.Event{
			"increment": {
				Handler:   realtime.Typed(func(c *realtime.Ctx, s step) error { return add(c, s.amount()) }),
				Schema:    realtime.JSON[step](),
				RateLimit: limit,
			},
			"decrement": {
				Handler:   realtime.Typed(func(c *realtime.Ctx, s step) error { return add(c, -s.amount()) }),
				Schema:    realtime.JSON[step](),
				RateLimit: limit,
			},
			"reset": {
				Handler:   reset,
				RateLimit: limit,
			},
			"get-users": {
				Handler: getUsers,
			},
		},
	}
}

// step is the data of increment and decrement: {"by": 1..10}, or nothing
// for 1.
type step struct {
	By *int `json:"by"`
}

func (s step) Validate() error {
	const msg = "must be an integer from 1 to 10"
	return validation.ValidateStruct(&s,
		// invopop's Min and Max let a zero through as "empty"; NilOrNotEmpty
		// refuses an explicit 0 while allowing by to be left out.
		validation.Field(&s.By, validation.NilOrNotEmpty.Error(msg),
			validation.Min(1).Error(msg), validation.Max(10).Error(msg)),
	)
}

func (s step) amount() int64 {
	if s.By == nil {
		return 1
	}
	return int64(*s.By)
}

type state struct {
	Count int64 `json:"count"`
}

// update is what every client gets when the counter changes.
type update struct {
	Count int64  `json:"count"`
	By    string `json:"by"` // who changed it
}

// sendState tells a new socket the current count.
func sendState(c *realtime.Ctx) error {
	n, err := store.Counter(c.Context(), c.Store(), counterKey)
	if err != nil {
		return err
	}
	return c.Reply("counter-state", state{Count: n})
}

// add changes the counter atomically (Incr is atomic in every store, Redis
// included), tells everyone, and acks the new value.
func add(c *realtime.Ctx, delta int64) error {
	n, err := c.Store().Incr(c.Context(), counterKey, delta)
	if err != nil {
		return err
	}
	if err := c.Emit("counter-update", update{Count: n, By: c.UserID()}); err != nil {
		return err
	}
	return c.Ack(state{Count: n})
}

func reset(c *realtime.Ctx) error {
	if err := c.Store().Set(c.Context(), counterKey, []byte("0"), 0); err != nil {
		return err
	}
	if err := c.Emit("counter-update", update{Count: 0, By: c.UserID()}); err != nil {
		return err
	}
	return c.Ack(state{Count: 0})
}

// getUsers acks the ids of the users connected to the namespace.
func getUsers(c *realtime.Ctx) error {
	users, err := c.In().Users(c.Context())
	if err != nil {
		return err
	}
	return c.Ack(map[string]any{"users": users})
}
