package realtime_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"fmt"
	"runtime"

	"net"
	"net/http/httptest"

	"strings"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// quiet is a Config whose logger discards, so that tests of panics and
// failures do not flood the output.
func quiet(cfg realtime.Config) realtime.Config {
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// dial connects a test client to a namespace and closes it with the test.
func dial(t *testing.T, srv *realtimetest.Server, ns string) *realtimetest.Client {
	t.Helper()
	return realtimetest.MustDial(t, srv.URL(ns), nil)
}

// dialAs connects a test client whose handshake carries X-User, which
// bindUser turns into the socket's user.
func dialAs(t *testing.T, srv *realtimetest.Server, ns, user string) *realtimetest.Client {
	t.Helper()
	return realtimetest.MustDial(t, srv.URL(ns), &realtimetest.Options{Header: http.Header{"X-User": {user}}})
}

// bindUser is a tiny auth stage: on connect it binds the user named by the
// X-User header, if any.
func bindUser(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		if c.Kind() == realtime.KindConnect {
			if id := c.Request().Header.Get("X-User"); id != "" {
				if err := c.SetUser(&realtime.User{ID: id}); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

// waitError waits for the client's next __loly:error.
func waitError(t *testing.T, cl *realtimetest.Client) *realtime.Error {
	t.Helper()
	e, err := cl.WaitError(testkit.Context(t))
	if err != nil {
		t.Fatalf("waiting for %s: %v", realtime.EventError, err)
	}
	return e
}

// sync round-trips an echo request: once its ack is back, everything the
// server queued for the client before it has been received too (one
// socket's envelopes arrive in the order they were queued).
func syncEcho(t *testing.T, cl *realtimetest.Client) {
	t.Helper()
	got, err := cl.Request(testkit.Context(t), "echo", "sync")
	if err != nil || string(got) != `"sync"` {
		t.Fatalf("echo after the tested input: %s, %v", got, err)
	}
}

// trail records, in order, what server-side code saw.
type trail struct {
	mu   sync.Mutex
	list []string
}

func (r *trail) add(s string) {
	r.mu.Lock()
	r.list = append(r.list, s)
	r.mu.Unlock()
}

func (r *trail) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.list...)
}

// receive waits for a value on ch for a few seconds.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func bg() context.Context { return context.Background() }

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

// heapInuse returns runtime.MemStats.HeapInuse after a collection.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// growth returns after-before, or 0 when the heap shrank.
func growth(before, after uint64) uint64 {
	if after < before {
		return 0
	}
	return after - before
}

// stillServes checks that the server answers a new socket.
func stillServes(t *testing.T, srv *realtimetest.Server) {
	t.Helper()
	cl, err := realtimetest.Dial(testkit.Context(t), srv.URL("/"), nil)
	if err != nil {
		t.Fatalf("the server no longer accepts sockets: %v", err)
	}
	defer cl.Close()
	got, err := cl.Request(testkit.Context(t), "echo", "alive")
	if err != nil || string(got) != `"alive"` {
		t.Fatalf("a new socket is not served: %s, %v", got, err)
	}
}

// bindHeaderUser binds the user named by X-User, or none.
func bindHeaderUser(c *realtime.Ctx) (*realtime.User, error) {
	if id := c.Request().Header.Get("X-User"); id != "" {
		return &realtime.User{ID: id}, nil
	}
	return nil, nil
}

// disconnect is one OnDisconnect: which socket, which user, why.
type disconnect struct {
	id, user string
	reason   error
}

// smallBufferServer serves mux with a small kernel send buffer on every
// accepted connection, so that a client that does not read blocks the
// server's writes after a few kilobytes, and reports on served each time a
// connection's ServeHTTP returns (its read loop is over).
func smallBufferServer(t *testing.T, mux *realtime.Mux) (*realtimetest.Server, <-chan struct{}) {
	t.Helper()
	if err := mux.Start(bg()); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, 16)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		served <- struct{}{}
	}))
	hs.Listener = smallBufferListener{hs.Listener}
	hs.Start()
	srv := &realtimetest.Server{Server: hs, Mux: mux}
	t.Cleanup(srv.Close)
	return srv, served
}

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

func raws(ms []realtimetest.Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.Write(m.Raw)
		b.WriteByte(' ')
	}
	return b.String()
}

// serve starts mux, serves h (which mounts it) on loopback, and returns the
// server's ws:// base URL; the mux shuts down with the test.
func serve(t *testing.T, mux *realtime.Mux, h http.Handler) string {
	t.Helper()
	if err := mux.Start(bg()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg(), 5*time.Second)
		defer cancel()
		_ = mux.Shutdown(ctx)
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}
