package middleware_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

var errSentinel = errors.New("sentinel: disk quota exceeded")

type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg } // panics on a nil receiver; fmt copes

// panicValue is a named function so that the stack trace can be checked for
// it.
func panicValue(v any) error { panic(v) }

// A panic becomes INTERNAL_ERROR with no internals for the client, an
// Error line with the stack and the request id, and the socket keeps
// working. Error values, nil and typed nils all count as panics.
func TestRecoverer(t *testing.T) {
	var typedNilPtr *struct{ X int }
	cases := []struct {
		name   string
		value  any
		inLog  string // expected in the log line's panic attribute
		secret string // must not reach the client
	}{
		{"string", "kaboom: secret internals at 0xdeadbeef", "kaboom: secret internals", "kaboom"},
		{"error", fmt.Errorf("wrapped: %w", errSentinel), "disk quota exceeded", "quota"},
		{"runtime error", nil, "", ""}, // filled in below: a nil map write
		{"nil", nil, "nil", ""},
		{"typed nil pointer", typedNilPtr, "<nil>", ""},
		{"typed nil error", (*nilErr)(nil), "<nil>", ""},
	}
	rec := newLogRec(slog.LevelDebug)
	// seen is a stage outside Recoverer: it sees what Recoverer returned.
	seen := make(chan error, 16)
	outer := func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			err := next(c)
			if c.Kind() == realtime.KindEvent && strings.HasPrefix(c.Event(), "boom-") {
				seen <- err
			}
			return err
		}
	}
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Logger(rec.logger()), outer, middleware.Recoverer)
	for i, tc := range cases {
		v := tc.value
		h := func(*realtime.Ctx) error { return panicValue(v) }
		switch tc.name {
		case "runtime error":
			h = func(*realtime.Ctx) error {
				var m map[string]int
				m["x"] = 1 // assignment to entry in nil map
				return nil
			}
			cases[i].inLog = "nil map"
		case "nil":
			h = func(*realtime.Ctx) error { panic(nil) } //nolint:govet // the point of the test
		}
		mux.On("boom-"+tc.name, h)
	}
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Data()) })
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			event := "boom-" + tc.name
			_, err := cl.Request(testkit.Context(t), event, nil)
			e := wantError(t, err, realtime.CodeInternal)
			if e.Message != realtime.ErrInternal.Message || e.Details != nil || e.Event != event {
				t.Fatalf("client error %+v, want only %q", e, realtime.ErrInternal.Message)
			}
			m, werr := cl.Wait(testkit.Context(t), realtime.EventError)
			if werr != nil {
				t.Fatal(werr)
			}
			if tc.secret != "" && strings.Contains(string(m.Raw), tc.secret) {
				t.Fatalf("panic text reached the client: %s", m.Raw)
			}
			if strings.Contains(string(m.Raw), "goroutine") || strings.Contains(string(m.Raw), "panic:") {
				t.Fatalf("internals reached the client: %s", m.Raw)
			}

			// What Recoverer returned: INTERNAL_ERROR whose cause keeps the
			// panic, an error value still matchable with errors.Is.
			got := <-seen
			var re *realtime.Error
			if !errors.As(got, &re) || re.Code != realtime.CodeInternal || re.Cause == nil {
				t.Fatalf("Recoverer returned %v", got)
			}
			if tc.name == "error" && !errors.Is(got, errSentinel) {
				t.Fatalf("the panicked error is lost from the cause chain: %v", got)
			}

			lines := rec.find("panic in handler", "requestId", e.RequestID)
			if len(lines) != 1 {
				t.Fatalf("panic lines for request %s: %+v", e.RequestID, rec.Records())
			}
			l := lines[0]
			if l.Level != slog.LevelError || !strings.Contains(l.str("panic"), tc.inLog) ||
				l.str("event") != event || l.str("socketId") != cl.SocketID {
				t.Fatalf("panic line: %+v", l)
			}
			stack := l.str("stack")
			if !strings.Contains(stack, "goroutine ") || !strings.Contains(stack, "middleware_test.TestRecoverer") {
				t.Fatalf("panic line without the stack of the handler:\n%s", stack)
			}
			// The Logger sees the INTERNAL_ERROR with its cause.
			ev := rec.find("event", "requestId", e.RequestID)
			if len(ev) != 1 || ev[0].str("outcome") != realtime.CodeInternal || !strings.HasPrefix(ev[0].str("error"), "panic: ") {
				t.Fatalf("event line: %+v", ev)
			}

			// The socket keeps working.
			got2, err := cl.Request(testkit.Context(t), "echo", "still here")
			if err != nil || string(got2) != `"still here"` {
				t.Fatalf("after the panic: %s, %v", got2, err)
			}
		})
	}
	if cl.Closed() {
		t.Fatal("the socket closed")
	}
}

// A panic during connect (here in the auth hook) refuses the socket with
// INTERNAL_ERROR (1011) instead of taking anything down; other sockets
// connect.
func TestRecovererOnConnect(t *testing.T) {
	rec := newLogRec(slog.LevelDebug)
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Logger(rec.logger()), middleware.Recoverer,
		middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
			if c.Request().Header.Get("X-User") == "crash" {
				panic("connect bug")
			}
			return headerAuth(c)
		}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Data()) })
	srv := realtimetest.NewServer(t, mux)
	code, e, m := refusedConnect(t, srv.URL("/"), as("crash"))
	if code != realtime.CloseInternal || e.Code != realtime.CodeInternal || strings.Contains(string(m.Raw), "connect bug") {
		t.Fatalf("close %d, error %s", code, m.Raw)
	}
	if len(rec.find("panic in handler", "requestId", e.RequestID)) != 1 {
		t.Fatalf("no panic line for the connect: %+v", rec.Records())
	}
	cl := realtimetest.MustDial(t, srv.URL("/"), as("fine"))
	if _, err := cl.Request(testkit.Context(t), "echo", 1); err != nil {
		t.Fatal(err)
	}
}
