package realtime_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"bytes"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// A user's identity is bound at connect from the handshake, and nothing
// later moves ToUser's aim: not a payload or query that claims another id,
// not SetUser from an event, not a second handshake header.
func TestToUserCannotBeAimedByASpoofedIdentity(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		// The first X-User header is the identity; a second one is a
		// client's attempt to be someone else.
		if v := c.Request().Header.Values("X-User"); len(v) > 0 {
			return &realtime.User{ID: v[0]}, nil
		}
		return nil, nil
	}))
	var steals atomic.Int32
	mux.On("become", func(c *realtime.Ctx) error {
		var who string
		_ = c.Bind(&who)
		if c.SetUser(&realtime.User{ID: who}) == nil {
			steals.Add(1)
		}
		return nil
	})
	mux.On("dm", realtime.Typed(func(c *realtime.Ctx, to string) error {
		return c.ToUser(to).Emit("dm", map[string]string{"from": c.UserID()})
	}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	srv := realtimetest.NewServer(t, mux)
	victim := dialAs(t, srv, "/", "victim")
	spoofer := realtimetest.MustDial(t, srv.URL("/")+"?user=victim&userId=victim",
		&realtimetest.Options{Header: http.Header{"X-User": {"spoofer", "victim"}}})
	sender := dialAs(t, srv, "/", "sender")

	_ = spoofer.SendRaw([]byte(`{"event":"become","data":"victim","user":"victim","userId":"victim"}`))
	syncEcho(t, spoofer)
	if steals.Load() != 0 {
		t.Fatal("SetUser worked outside the connect event")
	}
	testkit.Request(t, sender, "dm", "victim")
	if _, err := victim.Wait(testkit.Context(t), "dm"); err != nil {
		t.Fatal(err)
	}
	syncEcho(t, spoofer)
	if n := spoofer.Count("dm"); n != 0 {
		t.Fatalf("a message for the victim reached the spoofer (%d)", n)
	}
	// And the spoofer's own messages say who it is.
	testkit.Request(t, spoofer, "dm", "victim")
	m, err := victim.Wait(testkit.Context(t), "dm")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Data), `"spoofer"`) {
		t.Fatalf("the spoofer's dm reads %s", m.Data)
	}
}

// SetUser works only in the connect event: from any other event it fails
// and the socket keeps the user bound at connect.
func TestSetUserOnlyAtConnect(t *testing.T) {
	srv := realtimetest.NewServer(t, roomsMux(realtime.Config{}))
	cl := dialAs(t, srv, "/", "u1")
	got := string(testkit.Request(t, cl, "setUser", nil))
	if !strings.Contains(got, "connect") {
		t.Fatalf("SetUser in an event: %s, want an error about the connect event", got)
	}
	if who := string(testkit.Request(t, cl, "whoami", nil)); who != `"u1"` {
		t.Fatalf("user after SetUser attempt: %s", who)
	}
}

// Credentials reach the server the three ways browsers and other clients
// send them: a Bearer header, a cookie and a ?token= query. Over a whole
// session (connects accepted and refused, events that succeed, fail, panic
// and are refused, disconnects) with every log at debug level captured, no
// credential appears in a log line, an error object or a close reason.
func TestCredentialsNeverInLogsOrErrors(t *testing.T) {
	const (
		bearerTok = "bearer-SECRET-1111"
		cookieTok = "cookie-SECRET-2222"
		queryTok  = "query-SECRET-3333"
		badTok    = "wrong-SECRET-4444"
	)
	// The tokens, and their distinctive part alone (a substring of a
	// token in a log is as bad as the whole).
	secrets := []string{bearerTok, cookieTok, queryTok, badTok, "SECRET"}
	users := map[string]string{bearerTok: "alice", cookieTok: "bob", queryTok: "carol"}

	sink := &testkit.LogBuffer{}
	logger := slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := realtime.New(realtime.Config{Logger: logger})
	mux.Use(middleware.RequestID, middleware.LoggerWithOpts(middleware.LoggerOpts{Logger: logger, Level: slog.LevelDebug}),
		middleware.Recoverer,
		middleware.AuthWithOpts(middleware.AuthOpts{Required: true, Hook: func(c *realtime.Ctx) (*realtime.User, error) {
			tok := middleware.Credential(c.Request(), "session")
			if u, ok := users[tok]; ok {
				return &realtime.User{ID: u}, nil
			}
			// A careless application error that names the token: the
			// client and the logs must still not see it.
			return nil, fmt.Errorf("unknown token %q", tok)
		}}),
		middleware.Validate, middleware.Guard, middleware.RateLimit(middleware.RateLimitOpts{}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.Handle("typed", realtime.Event{Schema: realtime.JSON[point](), Handler: func(c *realtime.Ctx) error { return nil }})
	mux.On("crash", func(c *realtime.Ctx) error { panic("crash") })
	mux.On("fail", func(c *realtime.Ctx) error { return errors.New("store unavailable") })
	mux.Handle("guarded", realtime.Event{Guard: func(*realtime.Ctx) (bool, error) { return false, nil },
		Handler: func(c *realtime.Ctx) error { return nil }})
	if err := mux.Start(bg()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(mux)
	hs.Config.ErrorLog = log.New(sink, "http: ", 0)
	hs.Start()
	srv := &realtimetest.Server{Server: hs, Mux: mux}
	t.Cleanup(srv.Close)

	var seen bytes.Buffer // everything the clients received
	session := func(url string, h http.Header) {
		cl := realtimetest.MustDial(t, url, &realtimetest.Options{Header: h})
		for _, ev := range []struct {
			name string
			data any
		}{{"echo", "hi"}, {"typed", map[string]any{"n": "x"}}, {"crash", nil}, {"fail", nil}, {"guarded", nil}, {"nope", nil}} {
			_, _ = cl.Request(testkit.Context(t), ev.name, ev.data)
		}
		_ = cl.SendRaw([]byte("not json"))
		syncEcho(t, cl)
		for _, m := range cl.Events() {
			seen.Write(m.Raw)
		}
		cl.Close()
	}
	session(srv.URL("/"), http.Header{"Authorization": {"Bearer " + bearerTok}})
	session(srv.URL("/"), http.Header{"Cookie": {"session=" + cookieTok}})
	session(srv.URL("/")+"?token="+queryTok, nil)
	for _, h := range []struct {
		url    string
		header http.Header
	}{
		{srv.URL("/"), http.Header{"Authorization": {"Bearer " + badTok}}},
		{srv.URL("/"), http.Header{"Cookie": {"session=" + badTok}}},
		{srv.URL("/") + "?token=" + badTok, nil},
	} {
		cl := realtimetest.MustDial(t, h.url, &realtimetest.Options{Header: h.header, SkipConnected: true})
		if code, _ := cl.WaitClosed(testkit.Context(t)); code != realtime.CloseUnauthorized {
			t.Fatalf("bad token: closed with %d, want 4401", code)
		}
		for _, m := range cl.Events() {
			seen.Write(m.Raw)
		}
	}
	srv.Close()

	for _, s := range secrets {
		if strings.Contains(seen.String(), s) {
			t.Fatalf("a client received %q: %s", s, seen.String())
		}
	}
	logs := sink.String()
	if !strings.Contains(logs, "alice") || !strings.Contains(logs, `"msg":"disconnect"`) || !strings.Contains(logs, "panic in handler") {
		t.Fatalf("the session was not logged as expected:\n%s", logs)
	}
	for _, s := range secrets {
		if i := strings.Index(logs, s); i >= 0 {
			t.Fatalf("the logs hold %q: ...%s...", s, logs[max(0, i-200):min(len(logs), i+100)])
		}
	}
	t.Logf("%d bytes of logs and %d bytes sent to clients, no credential among them", len(logs), seen.Len())
}
