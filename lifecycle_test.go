package realtime_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"fmt"
	"strings"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// OnConnect runs once __loly:connected is queued, so whatever it sends
// arrives after it.
func TestConnectedComesBeforeOnConnectEmits(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.OnConnect(func(c *realtime.Ctx) error { return c.Reply("welcome", c.SocketID()) })
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), &realtimetest.Options{SkipConnected: true})
	welcome, err := cl.Wait(testkit.Context(t), "welcome")
	if err != nil {
		t.Fatal(err)
	}
	connected, err := cl.Wait(testkit.Context(t), realtime.EventConnected)
	if err != nil {
		t.Fatal(err)
	}
	if connected.Seq != 1 || welcome.Seq != 2 {
		t.Fatalf("connected arrived #%d, welcome #%d; want 1 and 2", connected.Seq, welcome.Seq)
	}
	var info struct{ SocketID, Namespace string }
	_ = connected.Decode(&info)
	var id string
	_ = welcome.Decode(&id)
	if info.SocketID == "" || info.SocketID != id || info.Namespace != "/" {
		t.Fatalf("connected %s, welcome %s", connected.Raw, welcome.Raw)
	}
}

// An error from OnConnect refuses the socket: one __loly:error, then the
// close code of the error; what the connect queued (__loly:connected) is
// dropped.
func TestOnConnectErrorRefuses(t *testing.T) {
	tests := []struct {
		err     error
		code    string
		message string
		close   uint16
	}{
		{realtime.ErrUnauthorized, realtime.CodeUnauthorized, realtime.ErrUnauthorized.Message, realtime.CloseUnauthorized},
		{realtime.ErrForbidden, realtime.CodeForbidden, realtime.ErrForbidden.Message, realtime.CloseForbidden},
		{realtime.NewError(realtime.CodeForbidden, "banned", nil), realtime.CodeForbidden, "banned", realtime.CloseForbidden},
		{realtime.NewError("ROOM_FULL", "room is full", nil), "ROOM_FULL", "room is full", realtime.CloseForbidden},
		{errors.New("db down at 10.0.0.7"), realtime.CodeInternal, "internal error", realtime.CloseInternal},
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.message, func(t *testing.T) {
			mux := realtime.New(quiet(realtime.Config{}))
			mux.OnConnect(func(c *realtime.Ctx) error { return tt.err })
			srv := realtimetest.NewServer(t, mux)
			cl := realtimetest.MustDial(t, srv.URL("/"), &realtimetest.Options{SkipConnected: true})
			code, err := cl.WaitClosed(testkit.Context(t))
			if err != nil || code != tt.close {
				t.Fatalf("close code %d (%v), want %d", code, err, tt.close)
			}
			// A refused socket never sees __loly:connected.
			evs := cl.Events()
			if len(evs) != 1 || evs[0].Event != realtime.EventError {
				t.Fatalf("want exactly one %s and nothing else, got %s", realtime.EventError, raws(evs))
			}
			e, _ := evs[0].ErrorData()
			if e.Code != tt.code || e.Message != tt.message || e.Event != "" {
				t.Fatalf("error %+v, want code %s message %q and no event", e, tt.code, tt.message)
			}
		})
	}
}

// A middleware that refuses the connect (as an auth stage does) refuses it
// before the socket joins: no __loly:connected, no OnConnect, no
// OnDisconnect.
func TestMiddlewareRefusesConnect(t *testing.T) {
	var connects, disconnects atomic.Int32
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() == realtime.KindConnect && c.Request().Header.Get("X-User") == "" {
				return realtime.ErrUnauthorized
			}
			return next(c)
		}
	})
	mux.OnConnect(func(c *realtime.Ctx) error { connects.Add(1); return nil })
	mux.OnDisconnect(func(c *realtime.Ctx) error { disconnects.Add(1); return nil })
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	srv := realtimetest.NewServer(t, mux)

	cl := realtimetest.MustDial(t, srv.URL("/"), &realtimetest.Options{SkipConnected: true})
	code, err := cl.WaitClosed(testkit.Context(t))
	if err != nil || code != realtime.CloseUnauthorized {
		t.Fatalf("close %d (%v), want 4401", code, err)
	}
	evs := cl.Events()
	if len(evs) != 1 || evs[0].Event != realtime.EventError {
		t.Fatalf("want exactly one %s, got %s", realtime.EventError, raws(evs))
	}
	if e, _ := evs[0].ErrorData(); e.Code != realtime.CodeUnauthorized {
		t.Fatalf("error %s", evs[0].Raw)
	}
	// An accepted socket, to be sure the counters would have moved.
	ok := dialAs(t, srv, "/", "u1")
	syncEcho(t, ok)
	ok.Close()
	testkit.Eventually(t, "the accepted socket's disconnect", func() bool { return disconnects.Load() == 1 })
	if connects.Load() != 1 {
		t.Fatalf("OnConnect ran %d times, want once (for the accepted socket only)", connects.Load())
	}
}

// A socket refused by OnConnect gets no event handled, even those it sent
// while its connect was running, which the server reads right after the
// refusal, before or while the close goes out.
func TestRefusedSocketRunsNoEvents(t *testing.T) {
	var handled atomic.Int32
	release := make(chan struct{})
	mux := realtime.New(quiet(realtime.Config{}))
	mux.OnConnect(func(c *realtime.Ctx) error {
		<-release // a slow check, during which the client already talks
		return realtime.ErrForbidden
	})
	mux.On("act", func(c *realtime.Ctx) error { handled.Add(1); return nil })
	srv, served := smallBufferServer(t, mux)

	raw, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer raw.Close()
	for range 5 {
		if err := realtimetest.WriteText(raw, []byte(`{"event":"act"}`)); err != nil {
			close(release)
			t.Fatal(err)
		}
	}
	// Let the frames reach the server's socket before the refusal.
	time.Sleep(20 * time.Millisecond)
	close(release)
	_, _ = raw.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}) // close 1000
	receive(t, served, "the refused connection to end")
	if n := handled.Load(); n != 0 {
		t.Fatalf("a refused socket had %d events handled", n)
	}
}

// OnDisconnect runs when the client closes, with the reason, while the
// socket is still in its rooms so it can tell them.
func TestOnDisconnect(t *testing.T) {
	reasons := make(chan error, 1)
	mux := realtime.New(quiet(realtime.Config{}))
	mux.OnConnect(func(c *realtime.Ctx) error { return c.Join("r") })
	mux.OnDisconnect(func(c *realtime.Ctx) error {
		if c.Kind() != realtime.KindDisconnect || c.Event() != realtime.EventDisconnect {
			return errors.New("wrong kind")
		}
		if !reflect.DeepEqual(c.Socket().Rooms(), []string{"r"}) {
			return errors.New("rooms already gone")
		}
		if err := c.ToRoom("r").Except(c.SocketID()).Emit("left", c.SocketID()); err != nil {
			return err
		}
		reasons <- c.DisconnectReason()
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	leaver := dial(t, srv, "/")
	stayer := dial(t, srv, "/")
	leaver.Close()
	reason := receive(t, reasons, "OnDisconnect")
	var ce *realtime.CloseError
	if !errors.As(reason, &ce) || !ce.ByClient || ce.Code != 1000 {
		t.Fatalf("reason %v, want the client's close 1000", reason)
	}
	m, err := stayer.Wait(testkit.Context(t), "left")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `"`+leaver.SocketID+`"` {
		t.Fatalf("left: %s", m.Raw)
	}
}

// Connects and disconnects go through the middleware chain as events of
// their own kind.
func TestLifecycleThroughMiddleware(t *testing.T) {
	var seen trail
	done := make(chan struct{})
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			seen.add(c.Kind().String() + ":" + c.Event())
			err := next(c)
			if c.Kind() == realtime.KindDisconnect {
				close(done)
			}
			return err
		}
	})
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	syncEcho(t, cl)
	cl.Close()
	receive(t, done, "the disconnect through the middleware")
	want := []string{"connect:$connect", "event:echo", "disconnect:$disconnect"}
	if got := seen.get(); !reflect.DeepEqual(got, want) {
		t.Fatalf("middleware saw %q, want %q", got, want)
	}
}

// A socket refused at connect that had already sent events gets its
// UNAUTHORIZED error and the 4401 close, every time.
func TestRefusedSocketThatKeepsSendingGetsItsCloseCode(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		time.Sleep(5 * time.Millisecond) // the client's events pile up meanwhile
		return nil, errors.New("bad token")
	}))
	mux.On("x", func(c *realtime.Ctx) error { return nil })
	srv := realtimetest.NewServer(t, mux)
	event := `{"event":"x","data":"` + strings.Repeat("a", 512) + `"}`
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			nc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b := startBusyClient(t, nc, event)
			envs, cf := b.untilClose(t, 10*time.Second)
			if codes := errorCodes(t, envs); len(envs) != 1 || len(codes) != 1 || codes[0] != realtime.CodeUnauthorized {
				t.Fatalf("before the close: %+v; want one UNAUTHORIZED error", envs)
			}
			if cf.code != realtime.CloseUnauthorized {
				t.Fatalf("%v, want 4401", cf)
			}
		})
	}
}
