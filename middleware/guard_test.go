package middleware_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// Event guards: false is FORBIDDEN and the handler does not run; an
// *realtime.Error keeps its code and details; any other error is
// INTERNAL_ERROR with its text kept from the client; the guard sees the
// user, the data and the socket's context.
func TestGuardEvent(t *testing.T) {
	var runs atomic.Int64
	handler := func(c *realtime.Ctx) error { runs.Add(1); return c.Ack("ran") }
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Auth(headerAuth), middleware.Validate, middleware.Guard)
	mux.Route(realtime.Route{Events: map[string]realtime.Event{
		"deny": {Handler: handler, Guard: func(*realtime.Ctx) (bool, error) { return false, nil }},
		"full": {Handler: handler, Guard: func(*realtime.Ctx) (bool, error) {
			return false, realtime.NewError("ROOM_FULL", "room is full", map[string]int{"max": 2})
		}},
		"broken": {Handler: handler, Guard: func(*realtime.Ctx) (bool, error) {
			return true, errors.New("acl backend timeout at 10.0.0.7")
		}},
		// Only the owner named in the data may edit.
		"edit": {Handler: handler, Guard: func(c *realtime.Ctx) (bool, error) {
			if c.Context().Err() != nil {
				return false, c.Context().Err()
			}
			var doc struct {
				Owner string `json:"owner"`
			}
			if err := json.Unmarshal(c.Data(), &doc); err != nil {
				return false, nil
			}
			return c.UserID() != "" && doc.Owner == c.UserID(), nil
		}},
		"open": {Handler: handler},
	}})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), as("u1"))

	_, err := cl.Request(testkit.Context(t), "deny", nil)
	wantError(t, err, realtime.CodeForbidden)

	_, err = cl.Request(testkit.Context(t), "full", nil)
	e := wantError(t, err, "ROOM_FULL")
	if e.Message != "room is full" || e.Details.(map[string]any)["max"] != float64(2) {
		t.Fatalf("custom guard error: %+v", e)
	}

	_, err = cl.Request(testkit.Context(t), "broken", nil)
	e = wantError(t, err, realtime.CodeInternal)
	if strings.Contains(e.Message, "acl") || e.Details != nil {
		t.Fatalf("guard error text reached the client: %+v", e)
	}

	_, err = cl.Request(testkit.Context(t), "edit", map[string]string{"owner": "u2"})
	wantError(t, err, realtime.CodeForbidden)
	if runs.Load() != 0 {
		t.Fatalf("the handler ran %d times behind refusing guards", runs.Load())
	}
	if got, err := cl.Request(testkit.Context(t), "edit", map[string]string{"owner": "u1"}); err != nil || string(got) != `"ran"` {
		t.Fatalf("allowed edit: %s, %v", got, err)
	}
	if got, err := cl.Request(testkit.Context(t), "open", nil); err != nil || string(got) != `"ran"` {
		t.Fatalf("unguarded event: %s, %v", got, err)
	}
	if runs.Load() != 2 {
		t.Fatalf("runs = %d, want 2", runs.Load())
	}
}

// A route's guard covers all its events and its connects: a refused
// connect closes the socket with 4403 before OnConnect; the event's own
// guard runs only after the route's allowed; disconnects are not guarded.
func TestGuardRoute(t *testing.T) {
	var (
		mu         sync.Mutex
		routeKinds []realtime.Kind
	)
	var eventGuard, onConnect, onDisconnect, secret atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Auth(headerAuth), middleware.Guard)
	mux.Route(realtime.Route{
		Namespace: "/team",
		Guard: func(c *realtime.Ctx) (bool, error) {
			mu.Lock()
			routeKinds = append(routeKinds, c.Kind())
			mu.Unlock()
			if c.Kind() == realtime.KindDisconnect {
				return false, nil // must never be asked
			}
			return c.UserID() != "" && c.UserID() != "mallory" && c.Event() != "frozen", nil
		},
		OnConnect:    func(*realtime.Ctx) error { onConnect.Add(1); return nil },
		OnDisconnect: func(*realtime.Ctx) error { onDisconnect.Add(1); return nil },
		Events: map[string]realtime.Event{
			"secret": {
				Guard: func(c *realtime.Ctx) (bool, error) {
					eventGuard.Add(1)
					return c.UserID() == "boss", nil
				},
				Handler: func(*realtime.Ctx) error { secret.Add(1); return nil },
			},
			"frozen": {
				Guard: func(*realtime.Ctx) (bool, error) {
					eventGuard.Add(1)
					return true, nil
				},
				Handler: ok,
			},
			"hello": {Handler: ok},
		},
	})
	srv := realtimetest.NewServer(t, mux)

	for _, opts := range []*realtimetest.Options{as("mallory"), nil} {
		code, e, _ := refusedConnect(t, srv.URL("/team"), opts)
		if code != realtime.CloseForbidden || e.Code != realtime.CodeForbidden {
			t.Fatalf("guarded connect: close %d, %+v", code, e)
		}
	}
	if onConnect.Load() != 0 {
		t.Fatal("OnConnect ran for a refused socket")
	}

	worker := realtimetest.MustDial(t, srv.URL("/team"), as("worker"))
	if _, err := worker.Request(testkit.Context(t), "hello", nil); err != nil {
		t.Fatal(err)
	}
	_, err := worker.Request(testkit.Context(t), "secret", nil)
	wantError(t, err, realtime.CodeForbidden)
	if eventGuard.Load() != 1 {
		t.Fatalf("event guard ran %d times", eventGuard.Load())
	}
	// The route guard refuses first: the event's guard is not asked.
	_, err = worker.Request(testkit.Context(t), "frozen", nil)
	wantError(t, err, realtime.CodeForbidden)
	if eventGuard.Load() != 1 {
		t.Fatalf("the event guard was asked after the route guard refused")
	}

	boss := realtimetest.MustDial(t, srv.URL("/team"), as("boss"))
	if _, err := boss.Request(testkit.Context(t), "secret", nil); err != nil || secret.Load() != 1 {
		t.Fatalf("boss: %v, ran %d", err, secret.Load())
	}
	worker.Close()
	boss.Close()
	testkit.Eventually(t, "both disconnect handlers", func() bool { return onDisconnect.Load() == 2 })

	mu.Lock()
	defer mu.Unlock()
	var connects int
	for _, k := range routeKinds {
		switch k {
		case realtime.KindDisconnect:
			t.Fatalf("the route guard was asked about a disconnect")
		case realtime.KindConnect:
			connects++
		}
	}
	if connects != 4 {
		t.Fatalf("route guard saw %d connects, want 4", connects)
	}
}

// Allow puts a guard on the events registered through With or Group only;
// used on a namespace's mux it refuses connects with 4403; its errors pass
// as they are.
func TestAllow(t *testing.T) {
	isAdmin := func(c *realtime.Ctx) (bool, error) {
		if c.UserID() == "locked" {
			return false, realtime.NewError("ACCOUNT_LOCKED", "account locked", nil)
		}
		return c.UserID() == "admin", nil
	}
	var adminRuns atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Auth(headerAuth))
	mux.With(middleware.Allow(isAdmin)).On("ban", func(*realtime.Ctx) error { adminRuns.Add(1); return nil })
	mux.Group(func(r *realtime.Mux) {
		r.Use(middleware.Allow(isAdmin))
		r.On("purge", func(*realtime.Ctx) error { adminRuns.Add(1); return nil })
	})
	mux.On("read", ok)
	var staffDisconnects atomic.Int64
	mux.Namespace("/admin", func(r *realtime.Mux) {
		r.Use(middleware.Allow(func(c *realtime.Ctx) (bool, error) {
			if c.Kind() == realtime.KindDisconnect {
				return false, nil // must never be asked
			}
			return isAdmin(c)
		}))
		r.OnDisconnect(func(*realtime.Ctx) error { staffDisconnects.Add(1); return nil })
		r.On("stats", ok)
	})
	srv := realtimetest.NewServer(t, mux)

	user := realtimetest.MustDial(t, srv.URL("/"), as("user"))
	for _, ev := range []string{"ban", "purge"} {
		_, err := user.Request(testkit.Context(t), ev, nil)
		wantError(t, err, realtime.CodeForbidden)
	}
	if _, err := user.Request(testkit.Context(t), "read", nil); err != nil {
		t.Fatalf("an event without Allow: %v", err)
	}
	if adminRuns.Load() != 0 {
		t.Fatal("admin handlers ran for a user")
	}
	locked := realtimetest.MustDial(t, srv.URL("/"), as("locked"))
	_, err := locked.Request(testkit.Context(t), "ban", nil)
	wantError(t, err, "ACCOUNT_LOCKED")

	admin := realtimetest.MustDial(t, srv.URL("/"), as("admin"))
	for _, ev := range []string{"ban", "purge", "read"} {
		if _, err := admin.Request(testkit.Context(t), ev, nil); err != nil {
			t.Fatalf("admin %s: %v", ev, err)
		}
	}
	if adminRuns.Load() != 2 {
		t.Fatalf("admin handlers ran %d times", adminRuns.Load())
	}

	code, e, _ := refusedConnect(t, srv.URL("/admin"), as("user"))
	if code != realtime.CloseForbidden || e.Code != realtime.CodeForbidden {
		t.Fatalf("Allow on connect: close %d, %+v", code, e)
	}
	staff := realtimetest.MustDial(t, srv.URL("/admin"), as("admin"))
	if _, err := staff.Request(testkit.Context(t), "stats", nil); err != nil {
		t.Fatal(err)
	}
	staff.Close()
	testkit.Eventually(t, "the admin's disconnect handler", func() bool { return staffDisconnects.Load() == 1 })
}
