package realtime_test

import (
	"encoding/json"
	"errors"
	"testing"

	"strings"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

func echoMux() *realtime.Mux {
	mux := realtime.New(realtime.Config{})
	mux.On("echo", func(c *realtime.Ctx) error {
		var v any
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.Ack(v)
	})
	mux.On("say", func(c *realtime.Ctx) error { return c.Reply("said", json.RawMessage(c.Data())) })
	mux.On("boom", func(c *realtime.Ctx) error { panic("secret internals") })
	mux.On("fail", func(c *realtime.Ctx) error { return errors.New("db password wrong") })
	mux.On("nope", func(c *realtime.Ctx) error {
		return c.Error("ROOM_NOT_FOUND", "no such room", map[string]string{"room": "x"})
	})
	return mux
}

func TestEchoAndReply(t *testing.T) {
	srv := realtimetest.NewServer(t, echoMux())
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	if cl.SocketID == "" || cl.Namespace != "/" {
		t.Fatalf("connected info: %q %q", cl.SocketID, cl.Namespace)
	}
	got, err := cl.Request(testkit.Context(t), "echo", map[string]int{"n": 1})
	if err != nil || string(got) != `{"n":1}` {
		t.Fatalf("echo: %s %v", got, err)
	}
	if err := cl.Emit("say", "hi"); err != nil {
		t.Fatal(err)
	}
	m, err := cl.Wait(testkit.Context(t), "said")
	if err != nil || string(m.Data) != `"hi"` {
		t.Fatalf("said: %s %v", m.Data, err)
	}
}

// mustPanic runs fn and returns the panic message, failing if there is none
// or if it lacks the package prefix.
func mustPanic(t *testing.T, what string, fn func()) string {
	t.Helper()
	var msg string
	func() {
		defer func() {
			if p := recover(); p != nil {
				msg, _ = p.(string)
				if msg == "" {
					msg = "non-string panic"
				}
			}
		}()
		fn()
	}()
	if msg == "" {
		t.Fatalf("%s did not panic", what)
	}
	if !strings.HasPrefix(msg, "realtime: ") {
		t.Fatalf("%s panicked with %q, want the \"realtime: \" prefix", what, msg)
	}
	return msg
}

func TestRegistrationPanics(t *testing.T) {
	noop := func(c *realtime.Ctx) error { return nil }
	mw := func(next realtime.Handler) realtime.Handler { return next }
	tests := []struct {
		name string
		fn   func(m *realtime.Mux)
		want string // in the message
	}{
		{"Use after On", func(m *realtime.Mux) { m.On("e", noop); m.Use(mw) }, "before events"},
		{"Use after With", func(m *realtime.Mux) { m.With(mw).On("e", noop); m.Use(mw) }, "before events"},
		{"Use in a group after its events", func(m *realtime.Mux) {
			m.Group(func(r *realtime.Mux) { r.On("e", noop); r.Use(mw) })
		}, "before events"},
		{"Use nil", func(m *realtime.Mux) { m.Use(nil) }, "nil middleware"},
		{"duplicate event", func(m *realtime.Mux) { m.On("e", noop); m.On("e", noop) }, "already registered"},
		{"duplicate through With", func(m *realtime.Mux) { m.On("e", noop); m.With(mw).On("e", noop) }, "already registered"},
		{"nil handler", func(m *realtime.Mux) { m.On("e", nil) }, "Handler is nil"},
		{"empty name", func(m *realtime.Mux) { m.On("", noop) }, "empty"},
		{"reserved name", func(m *realtime.Mux) { m.On("__loly:e", noop) }, "reserved"},
		{"lifecycle name", func(m *realtime.Mux) { m.On("$connect", noop) }, "reserved"},
		{"name too long", func(m *realtime.Mux) { m.On(strings.Repeat("e", 129), noop) }, "129 bytes"},
		{"duplicate namespace", func(m *realtime.Mux) { m.Namespace("/a", nil); m.Namespace("/a", nil) }, "already defined"},
		{"bad namespace", func(m *realtime.Mux) { m.Namespace("a", nil) }, "must start with"},
		{"nil NotFound", func(m *realtime.Mux) { m.NotFound(nil) }, "nil handler"},
		{"nil OnConnect", func(m *realtime.Mux) { m.OnConnect(nil) }, "nil handler"},
		{"second OnConnect", func(m *realtime.Mux) { m.OnConnect(noop); m.OnConnect(noop) }, "already set"},
		{"On after Start", func(m *realtime.Mux) {
			if err := m.Start(bg()); err != nil {
				t.Fatal(err)
			}
			defer m.Shutdown(bg())
			m.On("e", noop)
		}, "after the mux started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := mustPanic(t, tt.name, func() { tt.fn(realtime.New(quiet(realtime.Config{}))) })
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("panic %q does not say %q", msg, tt.want)
			}
		})
	}
}

func TestNamespaces(t *testing.T) {
	var tr trail
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(tag(&tr, "root"))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.Namespace("/a", func(r *realtime.Mux) {
		r.Use(tag(&tr, "a"))
		r.On("onlyA", func(c *realtime.Ctx) error { return nil }) // auto-acked after the chain
		r.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	})
	mux.Namespace("/b", func(r *realtime.Mux) {
		r.On("onlyB", func(c *realtime.Ctx) error { return c.Emit("hello", c.Namespace()) })
		r.On("quiet", func(c *realtime.Ctx) error { return nil })
		r.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	})
	srv := realtimetest.NewServer(t, mux)
	a := dial(t, srv, "/a")
	b := dial(t, srv, "/b")
	root := dial(t, srv, "/")
	if a.Namespace != "/a" || b.Namespace != "/b" || root.Namespace != "/" {
		t.Fatalf("namespaces %q %q %q", a.Namespace, b.Namespace, root.Namespace)
	}

	if got := strings.Join(tr.during(t, a, "onlyA"), " "); got != "root a /a /root" {
		t.Fatalf("/a ran %q: the namespace's Use should add to the root's", got)
	}
	if got := strings.Join(tr.during(t, b, "quiet"), " "); got != "root /root" {
		t.Fatalf("/b ran %q: /a's middleware leaked", got)
	}
	for _, cl := range []*realtimetest.Client{b, root} {
		_, err := cl.Request(testkit.Context(t), "onlyA", nil)
		var e *realtime.Error
		if !errors.As(err, &e) || e.Code != realtime.CodeUnknownEvent || e.Event != "onlyA" {
			t.Fatalf("onlyA from %s: %v, want UNKNOWN_EVENT", cl.Namespace, err)
		}
	}
	// An emit to namespace /b reaches /b only.
	if _, err := b.Request(testkit.Context(t), "onlyB", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(testkit.Context(t), "hello"); err != nil {
		t.Fatal(err)
	}
	syncEcho(t, a)
	syncEcho(t, root)
	if a.Count("hello")+root.Count("hello") != 0 {
		t.Fatal("an emit in /b reached another namespace")
	}

	_, err := realtimetest.Dial(testkit.Context(t), srv.URL("/nowhere"), nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("dial to an unknown namespace: %v, want HTTP 404", err)
	}
}

// Namespace names may not hold ':', which cluster topics use as a
// separator: with namespaces /a and /a:b, ToUser("b:x") in /a and user x in
// /a:b shared the topic user:/a:b:x, and a message crossed namespaces
// between instances.
func TestNamespaceNamesCannotCollideInClusterTopics(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Route(realtime.Route{Namespace: "/a:b", Events: map[string]realtime.Event{
		"x": {Handler: func(*realtime.Ctx) error { return nil }}}})
	if err := mux.Start(bg()); err == nil || !strings.Contains(err.Error(), `"/a:b" holds a ":"`) {
		t.Fatalf("Start: %v, want the colon refused", err)
	}
	msg := mustPanic(t, "Namespace(\"/a:b\")", func() { realtime.New(realtime.Config{}).Namespace("/a:b", nil) })
	if !strings.Contains(msg, ":") {
		t.Fatalf("panic %q", msg)
	}
}

func TestNotFoundHandler(t *testing.T) {
	var tr trail
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(tag(&tr, "m"))
	mux.NotFound(func(c *realtime.Ctx) error {
		if c.Endpoint() != nil {
			return errors.New("unknown event with an endpoint")
		}
		return c.Reply("missing", c.Event())
	})
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	if got := strings.Join(tr.during(t, cl, "ghost"), " "); got != "m /m" {
		t.Fatalf("NotFound ran %q: not through the middleware", got)
	}
	syncEcho(t, cl)
	evs := cl.Events()
	if len(evs) != 1 || evs[0].Event != "missing" || string(evs[0].Data) != `"ghost"` {
		t.Fatalf("want only the custom reply, got %s", raws(evs))
	}
}
