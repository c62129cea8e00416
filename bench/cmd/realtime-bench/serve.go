package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/lolyjs/realtime/bench/internal/server"
)

// serve runs one Go server until SIGTERM or SIGINT. Besides the server's
// own paths it answers GET /debug/gc (a full collection, memory returned to
// the OS, so idle memory is measured without garbage) and /debug/pprof/.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	kind := fs.String("kind", "realtime", "server: realtime, gws or centrifuge")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	redis := fs.String("redis", "", "Redis URL joining the instances of a cluster")
	instance := fs.String("instance", "", "instance name in a cluster")
	prefix := fs.String("prefix", "bench:", "Redis key and channel prefix")
	_ = fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := server.New(ctx, *kind, server.Options{Redis: *redis, Instance: *instance, Prefix: *prefix})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler)
	mux.HandleFunc("/debug/gc", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/debug/mem", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, `{"heapInuse":%d,"stackInuse":%d,"goroutines":%d}`+"\n", ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Println("ready")
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Close(sctx)
	_ = hs.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
	}
	return err
}
