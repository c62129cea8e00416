// Command counter is loly's realtime counter example (the /counter namespace
// of loly's space-explorer app) ported to Go, for loly's own page, unchanged:
// the page's socket.io-client connects to /wss, namespace /counter.
//
//	go run ./_examples/loly/counter -addr 127.0.0.1:8080
//
// What changed from the TypeScript route, line by line, is in
// _examples/loly/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/loly"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		slog.Error("counter: " + err.Error())
		os.Exit(1)
	}
}

// sockets counts the sockets of /counter on this instance, for get-users.
var sockets atomic.Int64

func run(addr string) error {
	cfg := realtime.Config{}
	loly.Configure(&cfg)
	mux := realtime.New(cfg)
	mux.Use(loly.Stages()...)
	mux.Route(realtime.Route{
		Namespace: "/counter",
		OnConnect: loly.KeepSocket(func(c *realtime.Ctx) error {
			sockets.Add(1)
			var count int64
			if _, err := loly.StateOf(c).Get(c.Context(), "counter:value", &count); err != nil {
				return err
			}
			if err := c.Reply("counter-state", map[string]any{"count": count}); err != nil {
				return err
			}
			c.Logger().Info("Client connected to counter namespace", "socketId", c.SocketID())
			return nil
		}),
		OnDisconnect: func(c *realtime.Ctx) error {
			sockets.Add(-1)
			c.Logger().Info("Client disconnected from counter namespace", "socketId", c.SocketID(), "reason", fmt.Sprint(c.DisconnectReason()))
			return nil
		},
		Events: map[string]realtime.Event{
			"increment": {
				Schema:    realtime.JSON[step](),
				RateLimit: &realtime.Rate{EventsPerSecond: 5, Burst: 10},
				Handler: realtime.Typed(func(c *realtime.Ctx, s step) error {
					by := s.amount()
					n, err := loly.StateOf(c).Incr(c.Context(), "counter:value", by)
					if err != nil {
						return err
					}
					c.Logger().Debug("Counter incremented", "by", by, "newCount", n)
					return c.Broadcast("counter-update", map[string]any{
						"count": n, "increment": by, "timestamp": time.Now().UnixMilli(),
					})
				}),
			},
			"decrement": {
				Schema:    realtime.JSON[step](),
				RateLimit: &realtime.Rate{EventsPerSecond: 5, Burst: 10},
				Handler: realtime.Typed(func(c *realtime.Ctx, s step) error {
					by := s.amount()
					n, err := loly.StateOf(c).Decr(c.Context(), "counter:value", by)
					if err != nil {
						return err
					}
					c.Logger().Debug("Counter decremented", "by", by, "newCount", n)
					return c.Broadcast("counter-update", map[string]any{
						"count": n, "decrement": by, "timestamp": time.Now().UnixMilli(),
					})
				}),
			},
			"reset": {
				Schema: realtime.JSON[struct{}](),
				Handler: func(c *realtime.Ctx) error {
					if err := loly.StateOf(c).Set(c.Context(), "counter:value", 0, 0); err != nil {
						return err
					}
					c.Logger().Info("Counter reset")
					return c.Broadcast("counter-update", map[string]any{
						"count": 0, "reset": true, "timestamp": time.Now().UnixMilli(),
					})
				},
			},
			"get-users": {
				Handler: func(c *realtime.Ctx) error {
					return c.Reply("users-list", map[string]any{
						"connected": sockets.Load(), "timestamp": time.Now().UnixMilli(),
					})
				},
			},
		},
	})
	return serve(addr, mux)
}

// step is {by?: int 1..10}, loly's z.number().int().min(1).max(10).optional().
type step struct {
	By *int `json:"by"`
}

func (s step) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.By, validation.NilOrNotEmpty, validation.Min(1), validation.Max(10)))
}

func (s step) amount() int64 {
	if s.By == nil {
		return 1
	}
	return int64(*s.By)
}

// serve serves the mux at /wss until SIGINT or SIGTERM, printing the
// address it listens on first.
func serve(addr string, mux *realtime.Mux) error {
	if err := mux.Start(context.Background()); err != nil {
		return err
	}
	hm := http.NewServeMux()
	hm.Handle("/wss/", mux)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening on", ln.Addr())
	srv := &http.Server{Handler: hm, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(ctx), mux.Shutdown(ctx))
}
