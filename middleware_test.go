package realtime_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// recorder is a stage that records that it ran, for order tests.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) stage(name string) func(realtime.Handler) realtime.Handler {
	return func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() == realtime.KindEvent {
				r.add(name)
			}
			return next(c)
		}
	}
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.log, ",")
	r.log = nil
	return s
}

func refuse(code string) func(realtime.Handler) realtime.Handler {
	return func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() == realtime.KindEvent {
				return realtime.NewError(code, "refused by test stage", nil)
			}
			return next(c)
		}
	}
}

func TestMiddlewareOrderAndShortCircuit(t *testing.T) {
	rec := &recorder{}
	mux := realtime.New(realtime.Config{})
	mux.Use(rec.stage("a"), rec.stage("b"))
	mux.On("plain", func(c *realtime.Ctx) error { rec.add("handler"); return nil })
	mux.With(rec.stage("c")).On("with", func(c *realtime.Ctx) error { rec.add("handler"); return nil })
	mux.With(refuse("NOPE"), rec.stage("after")).On("refused", func(c *realtime.Ctx) error { rec.add("handler"); return nil })
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	if _, err := cl.Request(testkit.Context(t), "plain", nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); got != "a,b,handler" {
		t.Fatalf("order = %q, want a,b,handler", got)
	}
	if _, err := cl.Request(testkit.Context(t), "with", nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); got != "a,b,c,handler" {
		t.Fatalf("With order = %q, want a,b,c,handler", got)
	}
	// The inline stage applies to its event only.
	if _, err := cl.Request(testkit.Context(t), "plain", nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); got != "a,b,handler" {
		t.Fatalf("after With, plain order = %q", got)
	}
	_, err := cl.Request(testkit.Context(t), "refused", nil)
	var e *realtime.Error
	if !errors.As(err, &e) || e.Code != "NOPE" {
		t.Fatalf("refused: err = %v, want NOPE", err)
	}
	if got := rec.take(); got != "a,b" {
		t.Fatalf("a refusing stage must stop everything after it; ran %q", got)
	}
}

// A custom stage replaces a standard one and nothing else changes: here the
// Validate stage is swapped for one that upper-cases a string payload.
func TestMiddlewareReplaceStage(t *testing.T) {
	upper := func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if ep := c.Endpoint(); ep != nil && ep.Schema != nil && c.Kind() == realtime.KindEvent {
				v, err := ep.Schema.Parse(c.Data())
				if err != nil {
					return realtime.PayloadError(err)
				}
				c.SetValue(strings.ToUpper(v.(string)))
			}
			return next(c)
		}
	}
	for _, tc := range []struct {
		name     string
		validate func(realtime.Handler) realtime.Handler
		want     string
	}{
		{"standard", middleware.Validate, `"hi"`},
		{"custom", upper, `"HI"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := realtime.New(realtime.Config{})
			mux.Use(middleware.RequestID, middleware.Recoverer, tc.validate, middleware.Guard)
			mux.Route(realtime.Route{Events: map[string]realtime.Event{
				"shout": {Schema: realtime.JSON[string](), Handler: realtime.Typed(func(c *realtime.Ctx, s string) error { return c.Ack(s) })},
			}})
			srv := realtimetest.NewServer(t, mux)
			cl := realtimetest.MustDial(t, srv.URL("/"), nil)
			got, err := cl.Request(testkit.Context(t), "shout", "hi")
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// Route-level settings override mux-level ones: the route's Auth hook
// replaces the mux's, and the route's Guard applies to its events only.
func TestMiddlewareRouteOverridesMux(t *testing.T) {
	muxHook := func(c *realtime.Ctx) (*realtime.User, error) { return &realtime.User{ID: "from-mux"}, nil }
	mux := realtime.New(realtime.Config{})
	mux.Use(middleware.RequestID, middleware.Auth(muxHook), middleware.Guard)
	who := func(c *realtime.Ctx) error { return c.Ack(c.UserID()) }
	mux.On("who", who)
	mux.Route(realtime.Route{
		Namespace: "/admin",
		Auth:      func(c *realtime.Ctx) (*realtime.User, error) { return &realtime.User{ID: "from-route"}, nil },
		Guard: func(c *realtime.Ctx) (bool, error) {
			return c.Event() != "secret", nil
		},
		Events: map[string]realtime.Event{"who": {Handler: who}, "secret": {Handler: who}},
	})
	srv := realtimetest.NewServer(t, mux)
	root := realtimetest.MustDial(t, srv.URL("/"), nil)
	admin := realtimetest.MustDial(t, srv.URL("/admin"), nil)
	if got, _ := root.Request(testkit.Context(t), "who", nil); string(got) != `"from-mux"` {
		t.Fatalf("root user = %s", got)
	}
	if got, _ := admin.Request(testkit.Context(t), "who", nil); string(got) != `"from-route"` {
		t.Fatalf("admin user = %s", got)
	}
	_, err := admin.Request(testkit.Context(t), "secret", nil)
	if !errors.Is(err, realtime.ErrForbidden) {
		t.Fatalf("route guard: err = %v, want FORBIDDEN", err)
	}
}

type joinReq struct {
	Room string `json:"room"`
}

func (j joinReq) Validate() error {
	return validation.ValidateStruct(&j, validation.Field(&j.Room, validation.Required, validation.Length(1, 20)))
}

// A guard on connect refuses the socket with FORBIDDEN and close 4403; a
// failing auth hook refuses with UNAUTHORIZED and 4401, and an event guard
// refuses only its event.
func TestMiddlewareConnectRefusals(t *testing.T) {
	mux := realtime.New(realtime.Config{})
	mux.Use(middleware.RequestID, middleware.AuthWithOpts(middleware.AuthOpts{
		Hook: func(c *realtime.Ctx) (*realtime.User, error) {
			tok := middleware.Credential(c.Request(), "session")
			switch tok {
			case "":
				return nil, nil
			case "bad":
				return nil, errors.New("token expired")
			}
			return &realtime.User{ID: tok}, nil
		},
	}), middleware.Validate, middleware.Guard)
	mux.Route(realtime.Route{
		Namespace: "/vip",
		Guard:     func(c *realtime.Ctx) (bool, error) { return c.UserID() == "vip", nil },
		Events:    map[string]realtime.Event{"hello": {Handler: func(c *realtime.Ctx) error { return nil }}},
	})
	mux.With(middleware.RequireUser).On("mine", func(c *realtime.Ctx) error { return c.Ack(c.UserID()) })
	mux.Handle("join", realtime.Event{
		Schema:  realtime.JSON[joinReq](),
		Guard:   func(c *realtime.Ctx) (bool, error) { v, _ := c.Value(); return v.(joinReq).Room != "staff", nil },
		Handler: realtime.Typed(func(c *realtime.Ctx, j joinReq) error { return c.Join(j.Room) }),
	})
	srv := realtimetest.NewServer(t, mux)

	refused := func(url string, h http.Header) (uint16, *realtime.Error) {
		t.Helper()
		cl := realtimetest.MustDial(t, url, &realtimetest.Options{Header: h, SkipConnected: true})
		e, err := cl.WaitError(testkit.Context(t))
		if err != nil {
			t.Fatalf("no error event: %v", err)
		}
		code, err := cl.WaitClosed(testkit.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		if n := cl.Count(realtime.EventConnected); n != 0 {
			t.Fatalf("refused socket got __loly:connected")
		}
		return code, e
	}
	code, e := refused(srv.URL("/")+"?token=bad", nil)
	if code != realtime.CloseUnauthorized || e.Code != realtime.CodeUnauthorized || strings.Contains(e.Message, "expired") {
		t.Fatalf("bad token: close %d, error %+v", code, e)
	}
	if e.RequestID == "" {
		t.Fatalf("connect error has no request id")
	}
	code, e = refused(srv.URL("/vip"), http.Header{"Authorization": {"Bearer pleb"}})
	if code != realtime.CloseForbidden || e.Code != realtime.CodeForbidden {
		t.Fatalf("guarded namespace: close %d, error %+v", code, e)
	}
	vip := realtimetest.MustDial(t, srv.URL("/vip"), &realtimetest.Options{Header: http.Header{"Cookie": {"session=vip"}}})
	if _, err := vip.Request(testkit.Context(t), "hello", nil); err != nil {
		t.Fatal(err)
	}

	anon := realtimetest.MustDial(t, srv.URL("/"), nil)
	if _, err := anon.Request(testkit.Context(t), "mine", nil); !errors.Is(err, realtime.ErrUnauthorized) {
		t.Fatalf("RequireUser: err = %v", err)
	}
	if _, err := anon.Request(testkit.Context(t), "join", map[string]string{"room": "staff"}); !errors.Is(err, realtime.ErrForbidden) {
		t.Fatalf("event guard: err = %v", err)
	}
	if _, err := anon.Request(testkit.Context(t), "join", map[string]string{"room": "lobby"}); err != nil {
		t.Fatalf("allowed join: %v", err)
	}
}

// tag is a middleware that records name before and /name after the rest.
func tag(tr *trail, name string) func(realtime.Handler) realtime.Handler {
	return func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() != realtime.KindEvent {
				return next(c)
			}
			tr.add(name)
			err := next(c)
			tr.add("/" + name)
			return err
		}
	}
}

func handlerTag(tr *trail, name string) realtime.Handler {
	return func(c *realtime.Ctx) error {
		tr.add(name)
		return nil
	}
}

// during sends an event, waits for its ack and returns what the trail
// recorded meanwhile (the trail is reset first). The handler must leave the
// ack to the mux, which sends it once the whole chain has returned.
func (tr *trail) during(t *testing.T, cl *realtimetest.Client, event string) []string {
	t.Helper()
	tr.mu.Lock()
	tr.list = nil
	tr.mu.Unlock()
	if _, err := cl.Request(testkit.Context(t), event, nil); err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	return tr.get()
}

// Stages from Use, With and Group nest around the handler in the order they
// were declared, and unwind in reverse.
func TestMiddlewareComposition(t *testing.T) {
	var tr trail
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(tag(&tr, "a"), tag(&tr, "b"))
	mux.Use(tag(&tr, "c"))
	mux.On("plain", handlerTag(&tr, "h"))
	mux.With(tag(&tr, "w")).On("with", handlerTag(&tr, "h"))
	mux.Group(func(r *realtime.Mux) {
		r.Use(tag(&tr, "g"))
		r.On("grouped", handlerTag(&tr, "h"))
		r.With(tag(&tr, "w")).On("groupedWith", handlerTag(&tr, "h"))
	})
	mux.On("after", handlerTag(&tr, "h"))
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")

	tests := []struct {
		event string
		want  string
	}{
		{"plain", "a b c h /c /b /a"},
		{"with", "a b c w h /w /c /b /a"},
		{"grouped", "a b c g h /g /c /b /a"},
		{"groupedWith", "a b c g w h /w /g /c /b /a"},
		{"after", "a b c h /c /b /a"},
	}
	for _, tt := range tests {
		if got := strings.Join(tr.during(t, cl, tt.event), " "); got != tt.want {
			t.Errorf("%s ran %q, want %q", tt.event, got, tt.want)
		}
	}
}
