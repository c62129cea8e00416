package realtime_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// Shutdown closes every socket with 1001 after what was queued for it, runs
// each OnDisconnect before it returns, and refuses new handshakes with 503.
func TestShutdown(t *testing.T) {
	const queued = 300
	var disconnects atomic.Int32
	mux := realtime.New(quiet(realtime.Config{}))
	mux.OnDisconnect(func(c *realtime.Ctx) error { disconnects.Add(1); return nil })
	srv := realtimetest.NewServer(t, mux)
	clients := []*realtimetest.Client{dial(t, srv, "/"), dial(t, srv, "/"), dial(t, srv, "/")}

	all := mux.In("/")
	for i := range queued {
		if err := all.Emit("n", i); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg(), 5*time.Second)
	defer cancel()
	if err := mux.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := disconnects.Load(); n != int32(len(clients)) {
		t.Fatalf("OnDisconnect ran %d times before Shutdown returned, want %d", n, len(clients))
	}
	for i, cl := range clients {
		code, err := cl.WaitClosed(testkit.Context(t))
		if err != nil || code != realtime.CloseGoingAway {
			t.Fatalf("client %d: close %d (%v), want 1001", i, code, err)
		}
		evs := cl.Events()
		if len(evs) != queued {
			t.Fatalf("client %d got %d of the %d queued messages before the close", i, len(evs), queued)
		}
		for j, m := range evs {
			if string(m.Data) != itoa(int64(j)) {
				t.Fatalf("client %d: message %d is %s", i, j, m.Raw)
			}
		}
	}
	_, err := realtimetest.Dial(testkit.Context(t), srv.URL("/"), nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("dial after Shutdown: %v, want HTTP 503", err)
	}
}

func chatMux(cfg realtime.Config) *realtime.Mux {
	mux := realtime.New(quiet(cfg))
	mux.Namespace("/chat", func(r *realtime.Mux) {
		r.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Namespace()) })
	})
	return mux
}

// The mux serves under a router's pattern (chi) and behind
// http.StripPrefix, with Path empty or "/".
func TestMounting(t *testing.T) {
	t.Run("chi", func(t *testing.T) {
		mux := chatMux(realtime.Config{})
		r := chi.NewRouter()
		r.Get("/health", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
		r.Handle("/wss/*", mux)
		base := serve(t, mux, r)
		checkChat(t, base+"/wss/chat")
	})
	for _, path := range []string{"", "/"} {
		t.Run("StripPrefix with Path "+`"`+path+`"`, func(t *testing.T) {
			mux := chatMux(realtime.Config{Path: path})
			m := http.NewServeMux()
			m.Handle("/rt/", http.StripPrefix("/rt", mux))
			base := serve(t, mux, m)
			checkChat(t, base+"/rt/chat")
		})
	}
}

func checkChat(t *testing.T, url string) {
	t.Helper()
	cl := realtimetest.MustDial(t, url, nil)
	if cl.Namespace != "/chat" {
		t.Fatalf("namespace %q, want /chat", cl.Namespace)
	}
	got, err := cl.Request(testkit.Context(t), "echo", nil)
	if err != nil || string(got) != `"/chat"` {
		t.Fatalf("echo: %s, %v", got, err)
	}
}

// Shutdown keeps to its deadline when a client does not read: its socket
// is cut, its OnDisconnect still runs, and Shutdown reports the deadline.
func TestShutdownDeadlineCutsStuckSockets(t *testing.T) {
	var disconnects atomic.Int32
	joined := make(chan struct{}, 1)
	mux := realtime.New(quiet(realtime.Config{}))
	mux.OnConnect(func(c *realtime.Ctx) error {
		err := c.Join("r")
		joined <- struct{}{}
		return err
	})
	mux.OnDisconnect(func(c *realtime.Ctx) error { disconnects.Add(1); return nil })
	srv, _ := smallBufferServer(t, mux)
	stuck, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	receive(t, joined, "the socket to join")
	pad := strings.Repeat("p", 32<<10)
	for range 100 { // 3 MiB: far more than the socket buffers hold
		if err := mux.In("/").ToRoom("r").Emit("big", pad); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg(), 300*time.Millisecond)
	defer cancel()
	err = mux.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if disconnects.Load() != 1 {
		t.Fatalf("OnDisconnect ran %d times, want once", disconnects.Load())
	}
	_ = stuck.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, stuck); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the stuck client's connection is still open")
	}
}
