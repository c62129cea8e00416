// Command cluster runs two realtime instances joined by Redis, in one
// process, to show what a cluster shares: a counter kept in Redis, emits that
// reach the sockets of both instances, and one presence list.
//
//	go run ./_examples/cluster                       # Redis at 127.0.0.1:6379
//	REDIS_URL=redis://host:6379/0 go run ./_examples/cluster
//
// Then open http://localhost:8081 and http://localhost:8082 side by side:
// a click on either page changes the number on both, and both list the same
// visitors. In production each instance is its own process behind a load
// balancer; nothing in the code changes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/cluster"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/store"
)

func main() {
	addrs := [2]string{}
	flag.StringVar(&addrs[0], "addr1", ":8081", "address of the first instance")
	flag.StringVar(&addrs[1], "addr2", ":8082", "address of the second instance")
	flag.Parse()
	url := os.Getenv(cluster.EnvRedisURL)
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs := make(chan error, 2)
	for i, addr := range addrs {
		go func() { errs <- runInstance(ctx, fmt.Sprintf("instance-%d", i+1), addr, url) }()
	}
	err := errors.Join(<-errs, <-errs)
	if err != nil {
		slog.Error("cluster: " + err.Error())
		os.Exit(1)
	}
}

// runInstance serves one instance until ctx is done. Each instance has its
// own Redis client, as separate processes would. name only labels the page
// and the logs.
func runInstance(ctx context.Context, name, addr, redisURL string) error {
	backends, err := cluster.Redis(ctx, redisURL, cluster.Options{Prefix: "loly:rt:example:"})
	if err != nil {
		return err
	}
	defer backends.Close()
	// Config.InstanceID is left empty: each start draws a random id, unique
	// in the cluster. A fixed one must be unique among running instances;
	// Start refuses one that a live process holds.
	cfg := realtime.Config{}
	backends.Configure(&cfg)
	mux := realtime.New(cfg)
	log := slog.Default().With("instance", name)
	mux.Use(middleware.RequestID, middleware.Logger(log), middleware.Recoverer,
		middleware.Auth(visitor), middleware.RateLimit(middleware.RateLimitOpts{}))
	mux.Route(realtime.Route{
		Namespace: "/counter",
		OnConnect: func(c *realtime.Ctx) error {
			n, err := store.Counter(c.Context(), c.Store(), "counter")
			if err != nil {
				return err
			}
			if err := c.Reply("counter-state", map[string]any{"count": n, "instance": name}); err != nil {
				return err
			}
			return announce(c)
		},
		OnDisconnect: announce,
		Events: map[string]realtime.Event{
			"increment": {
				RateLimit: &realtime.Rate{EventsPerSecond: 5, Burst: 10},
				Handler: func(c *realtime.Ctx) error {
					n, err := c.Store().Incr(c.Context(), "counter", 1)
					if err != nil {
						return err
					}
					return c.Emit("counter-update", map[string]any{"count": n, "by": c.UserID(), "via": name})
				},
			},
		},
	})
	if err := mux.Start(ctx); err != nil {
		return err
	}
	httpMux := http.NewServeMux()
	httpMux.Handle("/wss/", mux)
	httpMux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, page, name)
	})
	srv := &http.Server{Addr: addr, Handler: httpMux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	log.Info("cluster: listening", "addr", addr, "instanceID", mux.InstanceID())
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(sctx), mux.Shutdown(sctx))
}

// visitor names each socket, so that the presence list has names to show.
func visitor(*realtime.Ctx) (*realtime.User, error) {
	return &realtime.User{ID: fmt.Sprintf("visitor-%03d", rand.IntN(1000))}, nil
}

// announce sends everyone the cluster-wide list of who is online.
func announce(c *realtime.Ctx) error {
	users, err := c.In().Users(c.Context())
	if err != nil {
		return err
	}
	return c.Emit("online", users)
}

const page = `<!doctype html>
<meta charset="utf-8">
<title>realtime cluster: %[1]s</title>
<style>body{font:16px system-ui;margin:2em}b{font-size:3em}</style>
<h1>%[1]s</h1>
<p>count: <b id="n">…</b> <button id="inc">+1</button></p>
<p id="last"></p>
<p>online (every instance): <span id="who"></span></p>
<script>
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/wss/counter");
let id = 0;
ws.onmessage = (m) => {
  for (const line of m.data.split("\n")) {
    if (!line) continue;
    const env = JSON.parse(line);
    if (env.event === "counter-state" || env.event === "counter-update") n.textContent = env.data.count;
    if (env.event === "counter-update") last.textContent = env.data.by + " clicked on " + env.data.via;
    if (env.event === "online") who.textContent = env.data.join(", ");
    if (env.event === "__loly:error") last.textContent = env.data.code + ": " + env.data.message;
  }
};
inc.onclick = () => ws.send(JSON.stringify({event: "increment", id: ++id}));
</script>
`
