package realtime_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

const settingsHead = "realtime: declared settings that no stage enforces"

func allow(*realtime.Ctx) (bool, error) { return true, nil }

func noop(*realtime.Ctx) error { return nil }

func anyone(*realtime.Ctx) (*realtime.User, error) { return nil, nil }

// startErr starts mux and returns its error, shutting it down if it started.
func startErr(t *testing.T, mux *realtime.Mux) error {
	t.Helper()
	err := mux.Start(bg())
	if err == nil {
		t.Cleanup(func() { _ = mux.Shutdown(bg()) })
	}
	return err
}

// wantProblems checks that err is the settings error and lists exactly the
// problems that start with the given prefixes, one per line.
func wantProblems(t *testing.T, err error, prefixes ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Start succeeded; want it to fail with %d unenforced settings", len(prefixes))
	}
	msg := err.Error()
	head, body, ok := strings.Cut(msg, ":\n  - ")
	if !ok || !strings.HasPrefix(head, settingsHead) {
		t.Fatalf("Start error is not the settings error:\n%s", msg)
	}
	lines := strings.Split(body, "\n  - ")
	if len(lines) != len(prefixes) {
		t.Fatalf("Start reported %d problems, want %d:\n%s", len(lines), len(prefixes), msg)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("problem %d is %q; want it to start with %q", i, lines[i], p)
		}
	}
}

// TestStartRefusesUnenforcedSettings declares every setting on a mux that
// has none of the stages: Start names each endpoint and setting, in one
// error, and the fix.
func TestStartRefusesUnenforcedSettings(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.RequestID, middleware.Recoverer)
	mux.Route(realtime.Route{
		Namespace: "/chat",
		Auth:      anyone,
		Guard:     allow,
		Events: map[string]realtime.Event{
			"send":  {Handler: noop, Guard: allow, RateLimit: &realtime.Rate{EventsPerSecond: 1}},
			"leave": {Handler: noop, Schema: realtime.JSON[struct{ Room string }]()},
		},
	})
	mux.Handle("ping", realtime.Event{Handler: noop, RateLimit: &realtime.Rate{EventsPerSecond: 1}})
	err := startErr(t, mux)
	wantProblems(t, err,
		`namespace / event "ping": Event.RateLimit is set`,
		`route /chat connect: Route.Auth is set but no stage in its chain enforces it; add middleware.Auth`,
		`route /chat connect: Route.Guard is set but no stage in its chain enforces it; add middleware.Guard`,
		`route /chat event "leave": Route.Guard is set`,
		`route /chat event "leave": Event.Schema is set but no stage in its chain enforces it; add middleware.Validate or a realtime.Typed handler`,
		`route /chat event "send": Route.Guard is set`,
		`route /chat event "send": Event.Guard is set`,
		`route /chat event "send": Event.RateLimit is set but no stage in its chain enforces it; add middleware.RateLimit`,
	)
	if !strings.Contains(err.Error(), "realtime.Enforces") {
		t.Errorf("the error does not say how to record a replacement stage:\n%s", err)
	}
	// The error is kept: a later Start, or a request, gets it too.
	if again := mux.Start(bg()); again == nil || again.Error() != err.Error() {
		t.Fatalf("second Start = %v; want the same error", again)
	}
}

// TestStartRefusesEachMissingStage leaves out one standard stage at a time
// from a mux whose route declares every setting: Start names exactly what
// that stage would have enforced.
func TestStartRefusesEachMissingStage(t *testing.T) {
	route := realtime.Route{
		Namespace: "/r",
		Auth:      anyone,
		Guard:     allow,
		Events: map[string]realtime.Event{
			"e": {Handler: noop, Guard: allow, RateLimit: &realtime.Rate{EventsPerSecond: 1},
				Schema: realtime.JSON[struct{}]()},
		},
	}
	all := map[string]func(realtime.Handler) realtime.Handler{
		"Auth":      middleware.Auth(nil),
		"Guard":     middleware.Guard,
		"RateLimit": middleware.RateLimit(middleware.RateLimitOpts{}),
		"Validate":  middleware.Validate,
	}
	want := map[string][]string{
		"Auth":      {`route /r connect: Route.Auth is set`},
		"Guard":     {`route /r connect: Route.Guard is set`, `route /r event "e": Route.Guard is set`, `route /r event "e": Event.Guard is set`},
		"RateLimit": {`route /r event "e": Event.RateLimit is set`},
		"Validate":  {`route /r event "e": Event.Schema is set`},
	}
	for left := range all {
		t.Run("without "+left, func(t *testing.T) {
			mux := realtime.New(quiet(realtime.Config{}))
			for _, name := range []string{"Auth", "Validate", "Guard", "RateLimit"} {
				if name != left {
					mux.Use(all[name])
				}
			}
			mux.Route(route)
			wantProblems(t, startErr(t, mux), want[left]...)
		})
	}
	t.Run("all stages", func(t *testing.T) {
		mux := realtime.New(quiet(realtime.Config{}))
		mux.Use(all["Auth"], all["Validate"], all["Guard"], all["RateLimit"])
		mux.Route(route)
		if err := startErr(t, mux); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUnenforcedGuardServesNoSocket: a mux that was never started refuses
// every socket while a declared guard has no stage, on both protocols, so
// that the guard cannot be skipped by connecting before anyone calls Start.
func TestUnenforcedGuardServesNoSocket(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Route(realtime.Route{Namespace: "/admin", Guard: func(*realtime.Ctx) (bool, error) { return false, nil },
		Events: map[string]realtime.Event{"ban": {Handler: noop}}})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/wss/admin"
	if cl, err := realtimetest.Dial(testkit.Context(t), url, nil); err == nil {
		cl.Close()
		t.Fatal("a socket was served although Route.Guard has no stage")
	}
	resp, err := http.Get(srv.URL + "/wss/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Engine.IO handshake: status %d, want 500", resp.StatusCode)
	}
	if err := mux.Start(bg()); err == nil || !strings.Contains(err.Error(), `route /admin event "ban": Route.Guard is set`) {
		t.Fatalf("Start = %v; want the unenforced guard", err)
	}
}

// TestTypedHandlerEnforcesItsSchema: a Typed handler runs the event's
// schema itself, so it needs no Validate stage; a plain handler does.
func TestTypedHandlerEnforcesItsSchema(t *testing.T) {
	type room struct {
		Room string `json:"room"`
	}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Handle("typed", realtime.Event{Schema: realtime.JSON[room](),
		Handler: realtime.Typed(func(c *realtime.Ctx, r room) error { return c.Ack(r.Room) })})
	mux.Handle("plain", realtime.Event{Schema: realtime.JSON[room](), Handler: noop})
	wantProblems(t, startErr(t, mux), `namespace / event "plain": Event.Schema is set`)

	mux = realtime.New(quiet(realtime.Config{}))
	mux.Handle("typed", realtime.Event{Schema: realtime.JSON[room](),
		Handler: realtime.Typed(func(c *realtime.Ctx, r room) error { return c.Ack(r.Room) })})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	got, err := cl.Request(testkit.Context(t), "typed", map[string]any{"room": 5})
	var e *realtime.Error
	if !errorsAs(err, &e) || e.Code != realtime.CodeBadPayload {
		t.Fatalf("typed event with a bad room: %s, %v; want BAD_PAYLOAD", got, err)
	}
}

// guardWithLog is a replacement for middleware.Guard, recorded as one.
func guardWithLog(log *trail) func(realtime.Handler) realtime.Handler {
	return realtime.Enforces(func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if ep := c.Endpoint(); ep != nil && ep.Guard != nil && c.Kind() == realtime.KindEvent {
				if ok, err := ep.Guard(c); err != nil || !ok {
					log.add("refused " + c.Event())
					return realtime.ErrForbidden
				}
			}
			return next(c)
		}
	}, realtime.SettingGuard)
}

// TestEnforcesRecordsAReplacement: a stage of the application's own,
// recorded with Enforces, stands in for the standard one, and the events
// run through it.
func TestEnforcesRecordsAReplacement(t *testing.T) {
	log := &trail{}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(guardWithLog(log))
	mux.Handle("secret", realtime.Event{Handler: noop, Guard: func(*realtime.Ctx) (bool, error) { return false, nil }})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	_, err := cl.Request(testkit.Context(t), "secret", nil)
	var e *realtime.Error
	if !errorsAs(err, &e) || e.Code != realtime.CodeForbidden {
		t.Fatalf("secret: %v; want FORBIDDEN", err)
	}
	if got := log.get(); len(got) != 1 || got[0] != "refused secret" {
		t.Fatalf("the replacement saw %q", got)
	}

	// One stage can enforce several settings.
	both := realtime.Enforces(func(next realtime.Handler) realtime.Handler { return next },
		realtime.SettingGuard, realtime.SettingRateLimit)
	mux = realtime.New(quiet(realtime.Config{}))
	mux.Use(both)
	mux.Handle("x", realtime.Event{Handler: noop, Guard: allow, RateLimit: &realtime.Rate{EventsPerSecond: 1}})
	if err := startErr(t, mux); err != nil {
		t.Fatal(err)
	}
}

// TestUnrecordedWrapperFailsClosed: a stage that wraps a standard one is a
// stage of its own; unless it is recorded, Start treats the setting as
// unenforced. (A record lasts for the process, so the recorded wrapper is
// another function literal.)
func TestUnrecordedWrapperFailsClosed(t *testing.T) {
	wrapped := func(next realtime.Handler) realtime.Handler {
		h := middleware.Guard(next)
		return func(c *realtime.Ctx) error { return h(c) }
	}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(wrapped)
	mux.Handle("x", realtime.Event{Handler: noop, Guard: allow})
	wantProblems(t, startErr(t, mux), `namespace / event "x": Event.Guard is set but no stage in its chain enforces it`)

	recorded := func(next realtime.Handler) realtime.Handler {
		h := middleware.Guard(next)
		return func(c *realtime.Ctx) error { return h(c) }
	}
	mux = realtime.New(quiet(realtime.Config{}))
	mux.Use(realtime.Enforces(recorded, realtime.SettingGuard))
	mux.Handle("x", realtime.Event{Handler: noop, Guard: allow})
	if err := startErr(t, mux); err != nil {
		t.Fatal(err)
	}
}

// TestInlineStagesCount: stages added with With and Group count for the
// events registered through them, and only for those.
func TestInlineStagesCount(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.With(middleware.Guard).Handle("guarded", realtime.Event{Handler: noop, Guard: allow})
	mux.Group(func(r *realtime.Mux) {
		r.Use(middleware.RateLimit(middleware.RateLimitOpts{}))
		r.Handle("limited", realtime.Event{Handler: noop, RateLimit: &realtime.Rate{EventsPerSecond: 1}})
		r.With(middleware.Validate).Handle("checked", realtime.Event{Handler: noop,
			Schema: realtime.JSON[struct{}](), RateLimit: &realtime.Rate{EventsPerSecond: 1}})
	})
	mux.Handle("outside", realtime.Event{Handler: noop, Guard: allow, RateLimit: &realtime.Rate{EventsPerSecond: 1}})
	mux.Namespace("/admin", func(r *realtime.Mux) {
		r.Use(middleware.Guard)
		r.Handle("ban", realtime.Event{Handler: noop, Guard: allow})
	})
	wantProblems(t, startErr(t, mux),
		`namespace / event "outside": Event.Guard is set`,
		`namespace / event "outside": Event.RateLimit is set`,
	)
}

// TestRouteOnInlineMux: a route registered through With gets its stages
// for its connect and its events, whether it creates its namespace or not;
// a connect handler registered apart through a mux without the stages is
// reported.
func TestRouteOnInlineMux(t *testing.T) {
	route := realtime.Route{Namespace: "/r", Auth: anyone, Guard: allow,
		Events: map[string]realtime.Event{"e": {Handler: noop}}}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.With(middleware.Auth(nil), middleware.Guard).Route(route)
	if err := startErr(t, mux); err != nil {
		t.Fatal(err)
	}

	// The same on a namespace mux the route does not create: the stages
	// run for the route's events.
	mux = realtime.New(quiet(realtime.Config{}))
	mux.Namespace("/r", func(r *realtime.Mux) {
		r.With(middleware.Auth(nil), middleware.Guard).Route(realtime.Route{Auth: anyone, Guard: allow,
			Events: map[string]realtime.Event{"e": {Handler: noop, Guard: func(*realtime.Ctx) (bool, error) { return false, nil }}}})
	})
	cl := dial(t, realtimetest.NewServer(t, mux), "/r")
	var e *realtime.Error
	if _, err := cl.Request(testkit.Context(t), "e", nil); !errorsAs(err, &e) || e.Code != realtime.CodeForbidden {
		t.Fatalf("event refused by its guard: %v; want FORBIDDEN", err)
	}

	mux = realtime.New(quiet(realtime.Config{}))
	mux.Namespace("/r", func(r *realtime.Mux) {
		r.With(middleware.Auth(nil), middleware.Guard).Route(route)
		r.OnConnect(noop)
	})
	wantProblems(t, startErr(t, mux),
		`route /r connect: Route.Auth is set`,
		`route /r connect: Route.Guard is set`,
	)
}

// TestRouteGuardCoversNotFound: a NotFound handler of a guarded route is a
// handler like any event's, and needs the guard too.
func TestRouteGuardCoversNotFound(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Namespace("/r", func(r *realtime.Mux) {
		r.NotFound(noop)
		r.With(middleware.Guard).Route(realtime.Route{Guard: allow,
			Events: map[string]realtime.Event{"e": {Handler: noop}}})
	})
	wantProblems(t, startErr(t, mux), `route /r NotFound handler: Route.Guard is set`)
}

func TestEnforcesPanicsOnNil(t *testing.T) {
	defer func() {
		if msg, _ := recover().(string); !strings.HasPrefix(msg, "realtime: Enforces with a nil stage") {
			t.Fatalf("recovered %q", msg)
		}
	}()
	realtime.Enforces(nil, realtime.SettingGuard)
}

func TestSettingString(t *testing.T) {
	for s, want := range map[realtime.Setting]string{
		realtime.SettingAuth: "Auth", realtime.SettingGuard: "Guard",
		realtime.SettingRateLimit: "RateLimit", realtime.SettingSchema: "Schema",
		realtime.SettingAuth | realtime.SettingGuard: "Setting(3)",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(s), got, want)
		}
	}
}
