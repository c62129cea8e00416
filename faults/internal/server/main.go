// Command server is the realtime instance the fault tests run as a real
// process: a chat namespace on the standard middleware stack, joined to the
// other instances through cluster.Redis, with a /debug endpoint that reports
// its goroutines and heap. It prints "READY <addr>" on stdout once it
// listens, shuts the mux down (closing sockets with 1001 and clearing its
// presence) on SIGTERM or SIGINT, and exits 0 after a clean shutdown.
//
// It is built by the tests of package faults; it is not an example to copy
// as it is (it trusts ?user= as the identity).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/cluster"
	"github.com/lolyjs/realtime/middleware"
)

func main() {
	var (
		addr         = flag.String("addr", "127.0.0.1:0", "listen address")
		redisURL     = flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
		prefix       = flag.String("prefix", "loly:rt:faults:", "cluster key and channel prefix")
		id           = flag.String("id", "", "instance id (default random)")
		presenceTTL  = flag.Duration("presence-ttl", 30*time.Second, "Config.PresenceTTL")
		pingInterval = flag.Duration("ping-interval", 25*time.Second, "Config.PingInterval")
		pingTimeout  = flag.Duration("ping-timeout", 20*time.Second, "Config.PingTimeout")
		historySize  = flag.Int("history", 0, "Route.History.Size: messages kept per room (0: none)")
		presence     = flag.Bool("presence", false, "presence events in every room, and a hook that prints \"HOOK <room> <user> joined|left\"")
	)
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(*addr, *redisURL, *prefix, *id, *presenceTTL, *pingInterval, *pingTimeout, *historySize, *presence, log); err != nil {
		log.Error("server: " + err.Error())
		os.Exit(1)
	}
}

type say struct {
	Room string `json:"room"`
	Seq  int64  `json:"seq"`
	Text string `json:"text"`
}

func run(addr, redisURL, prefix, id string, ttl, pingInterval, pingTimeout time.Duration, historySize int, presence bool, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	backends, err := cluster.Redis(ctx, redisURL, cluster.Options{Prefix: prefix})
	if err != nil {
		return err
	}
	defer backends.Close()
	cfg := realtime.Config{
		Path: "/wss", InstanceID: id, PresenceTTL: ttl, Logger: log,
		PingInterval: pingInterval, PingTimeout: pingTimeout,
		Limits: realtime.Limits{ConnectionsPerIP: -1, EventsPerSecond: 10000, Burst: 10000},
	}
	backends.Configure(&cfg)
	mux := realtime.New(cfg)
	mux.Use(middleware.RequestID, middleware.Recoverer,
		middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
			if u := c.Request().URL.Query().Get("user"); u != "" {
				return &realtime.User{ID: u}, nil
			}
			return nil, nil
		}),
		middleware.Validate, middleware.RateLimit(middleware.RateLimitOpts{}))
	inst := mux.InstanceID
	var events *realtime.Presence
	if presence {
		events = &realtime.Presence{Mode: realtime.PresenceEvents, OnChange: func(c realtime.PresenceChange) {
			action := "left"
			if c.Joined {
				action = "joined"
			}
			fmt.Printf("HOOK %s %s %s\n", c.Room, c.User, action)
		}}
	}
	mux.Route(realtime.Route{History: realtime.History{Size: historySize}, Presence: events, Events: map[string]realtime.Event{
		"join": {Schema: realtime.JSON[say](), Handler: realtime.Typed(func(c *realtime.Ctx, s say) error {
			return c.Join(s.Room)
		})},
		// say emits to a room; the ack tells whether the other instances
		// could be reached (local members have their copy either way).
		"say": {Schema: realtime.JSON[say](), Handler: realtime.Typed(func(c *realtime.Ctx, s say) error {
			return c.ToRoom(s.Room).Emit("said", map[string]any{"from": c.UserID(), "seq": s.Seq, "text": s.Text, "via": inst()})
		})},
		"online": {Schema: realtime.JSON[say](), Handler: realtime.Typed(func(c *realtime.Ctx, s say) error {
			target := c.In()
			if s.Room != "" {
				target = c.ToRoom(s.Room)
			}
			users, err := target.Users(c.Context())
			if err != nil {
				return err
			}
			return c.Ack(users)
		})},
		"whoami": {Handler: func(c *realtime.Ctx) error {
			return c.Ack(map[string]string{"user": c.UserID(), "instance": inst()})
		}},
	}})
	if err := mux.Start(ctx); err != nil {
		return err
	}
	httpMux := http.NewServeMux()
	httpMux.Handle("/wss/", mux)
	httpMux.HandleFunc("/debug", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"instance": inst(), "goroutines": runtime.NumGoroutine(), "heapInuse": ms.HeapInuse,
		})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// ReadHeaderTimeout: a handshake that never finishes is the HTTP
	// server's to cut off.
	srv := &http.Server{Handler: httpMux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("READY %s %s\n", ln.Addr(), inst())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// SIGTERM: stop taking sockets, close each with 1001 after what is
	// queued for it, clear this instance's presence, then stop HTTP.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = mux.Shutdown(sctx)
	if herr := srv.Shutdown(sctx); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = errors.Join(err, herr)
	}
	fmt.Println("STOPPED")
	return err
}
