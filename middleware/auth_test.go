package middleware_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// The credential helpers, on plain http.Requests.
func TestCredentialHelpers(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		target                      string
		header                      http.Header
		bearer, cookie, query, cred string
	}{
		{name: "nothing", target: "/wss"},
		{name: "bearer", target: "/wss", header: http.Header{"Authorization": {"Bearer abc.def"}},
			bearer: "abc.def", cred: "abc.def"},
		{name: "bearer any case, spaces trimmed", target: "/wss", header: http.Header{"Authorization": {"bEaReR   abc  "}},
			bearer: "abc", cred: "abc"},
		{name: "bearer without token", target: "/wss", header: http.Header{"Authorization": {"Bearer "}}},
		{name: "bearer of spaces", target: "/wss", header: http.Header{"Authorization": {"Bearer    "}}},
		{name: "basic is not bearer", target: "/wss", header: http.Header{"Authorization": {"Basic dXNlcjpwdw=="}}},
		{name: "no space after bearer", target: "/wss", header: http.Header{"Authorization": {"Bearerabc"}}},
		{name: "cookie", target: "/wss", header: http.Header{"Cookie": {"theme=dark; sid=s3"}},
			cookie: "s3", cred: "s3"},
		{name: "other cookie only", target: "/wss", header: http.Header{"Cookie": {"theme=dark"}}},
		{name: "query", target: "/wss?token=q1&x=2", query: "q1", cred: "q1"},
		{name: "query escaped", target: "/wss?token=a%2Bb%3D", query: "a+b=", cred: "a+b="},
		{name: "cookie beats query", target: "/wss?token=q1", header: http.Header{"Cookie": {"sid=s3"}},
			cookie: "s3", query: "q1", cred: "s3"},
		{name: "bearer beats all", target: "/wss?token=q1",
			header: http.Header{"Cookie": {"sid=s3"}, "Authorization": {"Bearer b2"}},
			bearer: "b2", cookie: "s3", query: "q1", cred: "b2"},
		{name: "empty bearer falls through", target: "/wss?token=q1", header: http.Header{"Authorization": {"Bearer "}, "Cookie": {"sid=s3"}},
			cookie: "s3", query: "q1", cred: "s3"},
		{name: "empty cookie falls through", target: "/wss?token=q1", header: http.Header{"Cookie": {"sid="}},
			query: "q1", cred: "q1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			if got := middleware.BearerToken(r); got != tc.bearer {
				t.Errorf("BearerToken = %q, want %q", got, tc.bearer)
			}
			if got := middleware.CookieValue(r, "sid"); got != tc.cookie {
				t.Errorf("CookieValue = %q, want %q", got, tc.cookie)
			}
			if got := middleware.QueryToken(r); got != tc.query {
				t.Errorf("QueryToken = %q, want %q", got, tc.query)
			}
			if got := middleware.Credential(r, "sid"); got != tc.cred {
				t.Errorf("Credential = %q, want %q", got, tc.cred)
			}
			// Without a cookie name, cookies are not looked at.
			want := tc.bearer
			if want == "" {
				want = tc.query
			}
			if got := middleware.Credential(r, ""); got != want {
				t.Errorf("Credential without cookie = %q, want %q", got, want)
			}
		})
	}
}

// The hook sees the real handshake over a real socket, runs once per socket,
// and binds the user for the socket's life.
func TestAuthHookOverSockets(t *testing.T) {
	users := map[string]string{"tok-a": "alice", "tok-b": "bob", "tok-c": "carol"}
	var hookCalls atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		hookCalls.Add(1)
		if c.Kind() != realtime.KindConnect {
			return nil, errors.New("hook called outside connect")
		}
		id, known := users[middleware.Credential(c.Request(), "sid")]
		if !known {
			return nil, errors.New("unknown token")
		}
		return &realtime.User{ID: id, Info: "info-" + id}, nil
	}))
	connected := make(chan string, 8)
	mux.OnConnect(func(c *realtime.Ctx) error { connected <- c.UserID(); return nil })
	mux.On("whoami", func(c *realtime.Ctx) error {
		return c.Ack(map[string]any{"id": c.UserID(), "info": c.User().Info, "socket": c.Socket().User().ID})
	})
	srv := realtimetest.NewServer(t, mux)

	for _, tc := range []struct {
		name  string
		query string
		hdr   http.Header
		want  string
	}{
		{"bearer", "", http.Header{"Authorization": {"Bearer tok-a"}}, "alice"},
		{"cookie", "", http.Header{"Cookie": {"sid=tok-b"}}, "bob"},
		{"query", "?token=tok-c", nil, "carol"},
		{"bearer first", "?token=tok-c", http.Header{"Authorization": {"Bearer tok-a"}, "Cookie": {"sid=tok-b"}}, "alice"},
		{"cookie before query", "?token=tok-c", http.Header{"Cookie": {"sid=tok-b"}}, "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := hookCalls.Load()
			cl := realtimetest.MustDial(t, srv.URL("/")+tc.query, &realtimetest.Options{Header: tc.hdr})
			if got := <-connected; got != tc.want {
				t.Fatalf("OnConnect saw user %q, want %q", got, tc.want)
			}
			for range 3 {
				raw, err := cl.Request(testkit.Context(t), "whoami", map[string]string{"userId": "mallory"})
				if err != nil {
					t.Fatal(err)
				}
				var who map[string]string
				_ = json.Unmarshal(raw, &who)
				if who["id"] != tc.want || who["socket"] != tc.want || who["info"] != "info-"+tc.want {
					t.Fatalf("whoami = %s, want %s", raw, tc.want)
				}
			}
			if n := hookCalls.Load() - calls; n != 1 {
				t.Fatalf("hook ran %d times for one socket and three events, want once", n)
			}
		})
	}
}

// Refusals at connect: a failing hook is UNAUTHORIZED (4401) and its text
// stays on the server; a hook's *realtime.Error keeps its code (FORBIDDEN:
// 4403), wrapped or not; Required refuses anonymous sockets; a user without
// an id is refused. Refused sockets never reach OnConnect.
func TestAuthRefusals(t *testing.T) {
	var onConnect atomic.Int64
	hook := func(c *realtime.Ctx) (*realtime.User, error) {
		switch c.Request().URL.Query().Get("case") {
		case "error":
			return nil, errors.New("token tk_live_9f3 expired; shard SEVEN said so")
		case "forbidden":
			return nil, realtime.NewError(realtime.CodeForbidden, "account suspended", map[string]string{"until": "tomorrow"})
		case "wrapped":
			return nil, fmt.Errorf("lookup: %w", realtime.NewError(realtime.CodeForbidden, "account suspended", nil))
		case "user-and-error":
			return &realtime.User{ID: "half"}, errors.New("half-authenticated")
		case "anonymous":
			return nil, nil
		case "empty-id":
			return &realtime.User{ID: ""}, nil
		}
		return &realtime.User{ID: "fine"}, nil
	}
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.AuthWithOpts(middleware.AuthOpts{Hook: hook, Required: true}))
	mux.OnConnect(func(*realtime.Ctx) error { onConnect.Add(1); return nil })
	mux.On("ping", ok)
	srv := realtimetest.NewServer(t, mux)

	for _, tc := range []struct {
		name    string
		close   uint16
		code    string
		message string
	}{
		{"error", realtime.CloseUnauthorized, realtime.CodeUnauthorized, realtime.ErrUnauthorized.Message},
		{"forbidden", realtime.CloseForbidden, realtime.CodeForbidden, "account suspended"},
		{"wrapped", realtime.CloseForbidden, realtime.CodeForbidden, "account suspended"},
		{"user-and-error", realtime.CloseUnauthorized, realtime.CodeUnauthorized, realtime.ErrUnauthorized.Message},
		{"anonymous", realtime.CloseUnauthorized, realtime.CodeUnauthorized, realtime.ErrUnauthorized.Message},
		{"empty-id", realtime.CloseUnauthorized, realtime.CodeUnauthorized, realtime.ErrUnauthorized.Message},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, e, m := refusedConnect(t, srv.URL("/")+"?case="+tc.name, nil)
			if code != tc.close || e.Code != tc.code || e.Message != tc.message {
				t.Fatalf("close %d, error %s; want close %d, %s %q", code, m.Raw, tc.close, tc.code, tc.message)
			}
			if e.Event != "" || e.RequestID == "" {
				t.Fatalf("connect error object: %s", m.Raw)
			}
			for _, internal := range []string{"tk_live", "expired", "SEVEN", "lookup", "half"} {
				if strings.Contains(string(m.Raw), internal) {
					t.Fatalf("the hook's error text reached the client: %s", m.Raw)
				}
			}
		})
	}
	if n := onConnect.Load(); n != 0 {
		t.Fatalf("OnConnect ran %d times for refused sockets", n)
	}
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	if _, err := cl.Request(testkit.Context(t), "ping", nil); err != nil {
		t.Fatal(err)
	}
	if onConnect.Load() != 1 {
		t.Fatal("OnConnect did not run for the accepted socket")
	}
}

// Without Required, anonymous sockets connect; RequireUser, added with
// With, refuses their events that need a user, and only those.
func TestAuthOptionalAndRequireUser(t *testing.T) {
	var mine, public atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Auth(headerAuth))
	mux.With(middleware.RequireUser).On("mine", func(c *realtime.Ctx) error { mine.Add(1); return c.Ack(c.UserID()) })
	mux.On("public", func(c *realtime.Ctx) error { public.Add(1); return c.Ack(c.UserID()) })
	srv := realtimetest.NewServer(t, mux)

	anon := realtimetest.MustDial(t, srv.URL("/"), nil)
	_, err := anon.Request(testkit.Context(t), "mine", nil)
	wantError(t, err, realtime.CodeUnauthorized)
	if mine.Load() != 0 {
		t.Fatal("the handler ran for an anonymous socket")
	}
	if got, err := anon.Request(testkit.Context(t), "public", nil); err != nil || string(got) != `""` {
		t.Fatalf("public for anonymous: %s, %v", got, err)
	}
	if anon.Closed() {
		t.Fatal("a RequireUser refusal closed the socket")
	}

	user := realtimetest.MustDial(t, srv.URL("/"), as("u1"))
	if got, err := user.Request(testkit.Context(t), "mine", nil); err != nil || string(got) != `"u1"` {
		t.Fatalf("mine for u1: %s, %v", got, err)
	}
	if mine.Load() != 1 || public.Load() != 1 {
		t.Fatalf("handler runs: mine %d, public %d", mine.Load(), public.Load())
	}
}

// The user is bound at connect only: a handler calling SetUser later gets an
// error and the socket's user does not change, for a user or an anonymous
// socket.
func TestAuthSetUserAfterConnectRefused(t *testing.T) {
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Auth(headerAuth))
	mux.On("become", func(c *realtime.Ctx) error {
		var target string
		if err := c.Bind(&target); err != nil {
			return err
		}
		err := c.SetUser(&realtime.User{ID: target})
		return c.Ack(map[string]any{"refused": err != nil, "user": c.UserID()})
	})
	mux.On("whoami", func(c *realtime.Ctx) error { return c.Ack(c.UserID()) })
	srv := realtimetest.NewServer(t, mux)

	for _, who := range []string{"u1", ""} {
		var opts *realtimetest.Options
		if who != "" {
			opts = as(who)
		}
		cl := realtimetest.MustDial(t, srv.URL("/"), opts)
		raw, err := cl.Request(testkit.Context(t), "become", "admin")
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Refused bool   `json:"refused"`
			User    string `json:"user"`
		}
		_ = json.Unmarshal(raw, &res)
		if !res.Refused || res.User != who {
			t.Fatalf("%q: SetUser after connect: %s", who, raw)
		}
		got, err := cl.Request(testkit.Context(t), "whoami", nil)
		if err != nil || string(got) != fmt.Sprintf("%q", who) {
			t.Fatalf("%q: user after the attempt: %s, %v", who, got, err)
		}
	}
}
