package realtime_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

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

// Error objects carry the protocol's words, never a Go library's: an
// unknown field refused by DisallowUnknownFields names the field, not
// encoding/json. (It sent `invalid payload: json: unknown field "admin"`.)
func TestSchemaErrorsCarryNoLibraryText(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Validate)
	mux.Handle("strict", realtime.Event{Schema: realtime.JSON[point](realtime.DisallowUnknownFields()),
		Handler: func(c *realtime.Ctx) error { return nil }})
	mux.On("when", func(c *realtime.Ctx) error {
		var v struct {
			At time.Time `json:"at"`
		}
		return c.Bind(&v)
	})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	_, err := cl.Request(testkit.Context(t), "strict", map[string]any{"n": 1, "admin": true})
	var e *realtime.Error
	if !errorsAs(err, &e) || e.Code != realtime.CodeBadPayload || strings.Contains(e.Message, "json") {
		t.Fatalf("unknown field: %v", err)
	}
	if d, _ := e.Details.(map[string]any); d["admin"] == nil {
		t.Fatalf("unknown field: details %v, want the field named", e.Details)
	}
	long := strings.Repeat("k", 1000)
	_, err = cl.Request(testkit.Context(t), "strict", map[string]any{long: 1})
	if !errorsAs(err, &e) || strings.Contains(e.Message, long) || e.Details != nil {
		t.Fatalf("a 1000-byte unknown field is echoed back: %v", err)
	}
	_, err = cl.Request(testkit.Context(t), "when", map[string]any{"at": "yesterday"})
	if !errorsAs(err, &e) || e.Code != realtime.CodeBadPayload || strings.Contains(e.Message, "parsing time") || strings.Contains(e.Message, "2006") {
		t.Fatalf("bad time: %v", err)
	}
}

// A payload that does not decode is refused with the field named as
// encoding/json names it: the path of struct fields, without slice indexes
// or map keys; a time that does not parse names nothing; data of the wrong
// kind says what it must be. The same through Bind and a JSON schema.
func TestPayloadErrorDetails(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type shapes struct {
		In   inner          `json:"in"`
		List []inner        `json:"list"`
		M    map[string]int `json:"m"`
		At   time.Time      `json:"at"`
	}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Validate)
	mux.On("bind", func(c *realtime.Ctx) error {
		var v shapes
		return c.Bind(&v)
	})
	mux.Handle("schema", realtime.Event{Schema: realtime.JSON[shapes](realtime.DisallowUnknownFields()),
		Handler: func(c *realtime.Ctx) error { return nil }})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	for _, tc := range []struct {
		data    string
		message string
		details map[string]any
	}{
		{`{"in":{"n":"x"}}`, "invalid payload", map[string]any{"in.n": "must be an integer"}},
		{`{"list":[{"n":1},{"n":"z"}]}`, "invalid payload", map[string]any{"list.n": "must be an integer"}},
		{`{"m":{"a":"b"}}`, "invalid payload", map[string]any{"m": "must be an integer"}},
		{`{"at":"yesterday"}`, "invalid payload", nil},
		{`[1,2]`, "data must be an object", nil},
		{`{"in":{"n":1.5}}`, "invalid payload", map[string]any{"in.n": "must be an integer"}},
	} {
		for _, event := range []string{"bind", "schema"} {
			_, err := cl.Request(ctxT(t), event, json.RawMessage(tc.data))
			var e *realtime.Error
			if !errorsAs(err, &e) || e.Code != realtime.CodeBadPayload || e.Message != tc.message {
				t.Fatalf("%s %s: %v, want %q", event, tc.data, err, tc.message)
			}
			if tc.details == nil && e.Details != nil || tc.details != nil && !reflect.DeepEqual(e.Details, tc.details) {
				t.Fatalf("%s %s: details %#v, want %#v", event, tc.data, e.Details, tc.details)
			}
		}
	}
}

// guardedRooms is an application whose "join" event guards the room "vip":
// only the user "admin" may join it. Every way a client might get in is
// tried; none works.
func guardedRooms() *realtime.Mux {
	type joinReq struct {
		Room string `json:"room"`
	}
	roomOf := func(c *realtime.Ctx) string {
		var j joinReq
		_ = c.Bind(&j)
		return j.Room
	}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.RequestID, middleware.Auth(bindHeaderUser), middleware.Validate, middleware.Guard)
	mux.Handle("join", realtime.Event{
		Schema: realtime.JSON[joinReq](),
		Guard:  func(c *realtime.Ctx) (bool, error) { return roomOf(c) != "vip" || c.UserID() == "admin", nil },
		Handler: realtime.Typed(func(c *realtime.Ctx, j joinReq) error {
			return c.Join(j.Room)
		}),
	})
	mux.On("say", realtime.Typed(func(c *realtime.Ctx, j struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}) error {
		if !c.Socket().InRoom(j.Room) {
			return c.Error(realtime.CodeForbidden, "not in that room", nil)
		}
		return c.ToRoom(j.Room).Emit("said", j.Text)
	}))
	mux.On("rooms", func(c *realtime.Ctx) error { return c.Ack(c.Socket().Rooms()) })
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.Route(realtime.Route{Namespace: "/admin",
		Guard:  func(c *realtime.Ctx) (bool, error) { return c.UserID() == "admin", nil },
		Events: map[string]realtime.Event{"join": {Handler: func(c *realtime.Ctx) error { return c.Join("vip") }}},
	})
	return mux
}

// A room a guard denies cannot be joined by any path: not by the guarded
// event with the room spelled differently (escapes, duplicate keys, key
// case), not by another event name, a reserved one or a batch, and not by
// a namespace whose route guard refuses the socket, even when the client
// sends its events before the refusal is known.
func TestGuardDeniedRoomCannotBeJoined(t *testing.T) {
	mux := guardedRooms()
	srv := realtimetest.NewServer(t, mux)
	admin := dialAs(t, srv, "/", "admin")
	testkit.Request(t, admin, "join", map[string]string{"room": "vip"})

	intruder := dialAs(t, srv, "/", "mallory")
	attempts := []string{
		`{"event":"join","data":{"room":"vip"}}`,
		`{"event":"join","data":{"room":"v\u0069p"}}`,
		`{"event":"join","data":{"room":"lobby","room":"vip"}}`,
		`{"event":"join","data":{"ROOM":"vip"}}`,
		`{"event":"join","data":{"Room":"lobby","room":"vip"}}`,
		`{"event":"Join","data":{"room":"vip"}}`,
		`{"event":"join\u0000","data":{"room":"vip"}}`,
		`{"event":"$connect","data":{"room":"vip"}}`,
		`{"event":"__loly:join","data":{"room":"vip"}}`,
		`{"event":"join","event":"join","data":{"room":"vip"}}`,
		`{"event":"join","data":"vip"}`,
		`{"event":"join","data":["vip"]}`,
		strings.Repeat(`{"event":"join","data":{"room":"vip"}}`+"\n", 50),
	}
	for _, a := range attempts {
		if err := intruder.SendRaw([]byte(a)); err != nil {
			t.Fatal(err)
		}
	}
	syncEcho(t, intruder)
	if got := string(testkit.Request(t, intruder, "rooms", nil)); got != "[]" {
		t.Fatalf("the intruder is in %s", got)
	}
	// The route guard of /admin refuses the socket; events pipelined right
	// behind the handshake are never run.
	rc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/admin"), http.Header{"X-User": {"mallory"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for range 20 {
		_ = realtimetest.WriteText(rc, []byte(`{"event":"join"}`))
	}
	raw := &rawConn{t: t, nc: rc, br: bufio.NewReader(rc)}
	for {
		env, cf, err := raw.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if cf != nil {
			if cf.code != realtime.CloseForbidden {
				t.Fatalf("/admin: %v, want 4403", cf)
			}
			break
		}
		if env.Event != realtime.EventError {
			t.Fatalf("/admin sent the refused socket %s", env.Raw)
		}
	}
	users, err := mux.In("/").ToRoom("vip").Users(bg())
	if err != nil || len(users) != 1 || users[0] != "admin" {
		t.Fatalf("vip room: %v, %v; want only admin", users, err)
	}
	// Nothing said in the room reaches the intruder.
	testkit.Request(t, admin, "say", map[string]string{"room": "vip", "text": "secret plans"})
	if _, err := admin.Wait(testkit.Context(t), "said"); err != nil {
		t.Fatal(err)
	}
	syncEcho(t, intruder)
	for _, m := range intruder.Events() {
		if m.Event == "said" {
			t.Fatalf("the intruder heard %s", m.Raw)
		}
	}
	if _, err := intruder.Request(testkit.Context(t), "say", map[string]string{"room": "vip", "text": "hi"}); err == nil {
		t.Fatal("the intruder spoke in the vip room")
	}
}

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
