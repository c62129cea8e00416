package loly_test

import (
	"bufio"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/loly"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// migrationRows maps each row of MIGRATION.md's tables (by its first cell,
// as written there) and each bold-titled bullet (by its title) to the test
// of its Go side. TestMigrationDocIsTested fails on a row or bullet without
// one, so the guide makes no claim that no test checks.
var migrationRows = map[string]func(t *testing.T){}

func row(key string, fn func(t *testing.T)) bool {
	if _, dup := migrationRows[key]; dup {
		panic("two tests for MIGRATION.md row " + key)
	}
	migrationRows[key] = fn
	return true
}

// migrationClaims returns the first cells of the table rows of MIGRATION.md
// (headers left out) and the titles of its bold-titled bullets.
func migrationClaims(t *testing.T) []string {
	f, err := os.Open(filepath.Join(root, "MIGRATION.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	var out []string
	inCode := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			inCode = !inCode
		}
		if inCode {
			continue
		}
		switch {
		case strings.HasPrefix(l, "|") && !strings.HasPrefix(l, "|---"):
			header := i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|---")
			if !header {
				out = append(out, strings.TrimSpace(strings.Split(l, "|")[1]))
			}
		case strings.HasPrefix(l, "- **"):
			title, _, found := strings.Cut(strings.TrimPrefix(l, "- **"), "**")
			if !found { // a title wrapped onto the next line
				next := strings.TrimSpace(lines[i+1])
				rest, _, _ := strings.Cut(next, "**")
				title += " " + rest
			}
			out = append(out, title)
		}
	}
	return out
}

// TestMigrationDocIsTested checks that every row and bullet of
// MIGRATION.md has a test, and that every test still has its row.
func TestMigrationDocIsTested(t *testing.T) {
	claims := migrationClaims(t)
	if len(claims) < 60 {
		t.Fatalf("found %d claims in MIGRATION.md; the parser lost some", len(claims))
	}
	seen := map[string]bool{}
	for _, c := range claims {
		if migrationRows[c] == nil {
			t.Errorf("MIGRATION.md claims %q, and no test checks it", c)
		}
		seen[c] = true
	}
	for k := range migrationRows {
		if !seen[k] {
			t.Errorf("a test checks %q, which MIGRATION.md no longer says", k)
		}
	}
}

// TestMigration runs the test of each row and bullet of MIGRATION.md.
func TestMigration(t *testing.T) {
	for _, c := range migrationClaims(t) {
		fn := migrationRows[c]
		if fn == nil {
			continue // reported by TestMigrationDocIsTested
		}
		t.Run(c, fn)
	}
}

// ---- The shape of a route ----

type sendMessage struct {
	Text string `json:"text"`
}

func (m sendMessage) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.Text, validation.Required, validation.Length(1, 500)))
}

// TestMigrationExample runs the Go example of "The shape of a route".
func TestMigrationExample(t *testing.T) {
	verify := func(token string) (*realtime.User, error) {
		if token == "" {
			return nil, nil
		}
		if token != "good" {
			return nil, errors.New("bad token")
		}
		return &realtime.User{ID: "u1"}, nil
	}
	mux := realtime.New(quiet())
	mux.Use(
		middleware.RequestID,
		middleware.Logger(slog.New(slog.DiscardHandler)),
		middleware.Recoverer,
		middleware.Auth(nil),
		middleware.Validate,
		middleware.Guard,
		middleware.RateLimit(middleware.RateLimitOpts{}),
	)
	mux.Route(realtime.Route{
		Namespace: "/chat",
		Auth: func(c *realtime.Ctx) (*realtime.User, error) {
			return verify(middleware.BearerToken(c.Request()))
		},
		OnConnect: func(c *realtime.Ctx) error {
			return c.Reply("welcome", map[string]string{"id": c.UserID()})
		},
		Events: map[string]realtime.Event{
			"send-message": {
				Schema:    realtime.JSON[sendMessage](),
				RateLimit: &realtime.Rate{EventsPerSecond: 5, Burst: 10},
				Guard:     func(c *realtime.Ctx) (bool, error) { return c.User() != nil, nil },
				Handler: realtime.Typed(func(c *realtime.Ctx, m sendMessage) error {
					return c.ToRoom("lobby").Emit("message", m)
				}),
			},
			"join": {Handler: func(c *realtime.Ctx) error { return c.Join("lobby") }},
		},
	})
	srv := realtimetest.NewServer(t, mux)
	c := dial(t, srv, "/chat", "Authorization: Bearer good")
	if w := wantEvent(t, c, "welcome"); w["id"] != "u1" {
		t.Fatalf("welcome = %v", w)
	}
	testkit.Request(t, c, "join", nil)
	testkit.Request(t, c, "send-message", map[string]string{"text": "hi"})
	if m := wantEvent(t, c, "message"); m["text"] != "hi" {
		t.Fatalf("message = %v", m)
	}
	if _, err := c.Request(testkit.Context(t), "send-message", map[string]string{"text": ""}); !isCode(err, realtime.CodeBadPayload) {
		t.Fatalf("empty text: %v", err)
	}
	anon := dial(t, srv, "/chat")
	if _, err := anon.Request(testkit.Context(t), "send-message", map[string]string{"text": "hi"}); !isCode(err, realtime.CodeForbidden) {
		t.Fatalf("anonymous: %v", err)
	}
	if _, err := realtimetest.Dial(testkit.Context(t), srv.URL("/chat"), &realtimetest.Options{Header: http.Header{"Authorization": {"Bearer bad"}}}); err == nil {
		t.Fatal("a bad token connected")
	}
}

func isCode(err error, code string) bool {
	var e *realtime.Error
	return errors.As(err, &e) && e.Code == code
}

// ---- What moved where ----

var _ = row("`defineWssRoute({...})`", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/r", Events: map[string]realtime.Event{
		"hello": {Handler: func(c *realtime.Ctx) error { return c.Ack("hi") }},
	}})
	if got := testkit.Request(t, dial(t, srv, "/r"), "hello", nil); string(got) != `"hi"` {
		t.Fatalf("ack %s", got)
	}
})

var _ = row("`namespace`", func(t *testing.T) {
	mux := realtime.New(quiet())
	mux.Route(realtime.Route{Events: map[string]realtime.Event{"ping": pingEvent}})
	mux.Route(realtime.Route{Namespace: "/chat", Events: map[string]realtime.Event{"ping": pingEvent}})
	srv := realtimetest.NewServer(t, mux)
	if c := dial(t, srv, ""); c.Namespace != "/" {
		t.Fatalf("root namespace %q", c.Namespace)
	}
	if !strings.HasSuffix(srv.URL("/chat"), "/wss/chat") {
		t.Fatalf("URL %s", srv.URL("/chat"))
	}
	if c := dial(t, srv, "/chat"); c.Namespace != "/chat" {
		t.Fatalf("namespace %q", c.Namespace)
	}
})

var _ = row("`auth(ctx)` returning a user or `null`", func(t *testing.T) {
	srv := serve(t, quiet(), realtime.Chain(middleware.Auth(nil)), realtime.Route{
		Namespace: "/a",
		Auth: func(c *realtime.Ctx) (*realtime.User, error) {
			switch c.Request().Header.Get("X-Who") {
			case "":
				return nil, nil
			case "bad":
				return nil, errors.New("no")
			}
			return &realtime.User{ID: c.Request().Header.Get("X-Who")}, nil
		},
		Events: map[string]realtime.Event{"who": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.UserID()) }}},
	})
	if got := testkit.Request(t, dial(t, srv, "/a", "X-Who: u7"), "who", nil); string(got) != `"u7"` {
		t.Fatalf("user %s", got)
	}
	if got := testkit.Request(t, dial(t, srv, "/a"), "who", nil); string(got) != `""` {
		t.Fatalf("anonymous user %s", got)
	}
	c, err := realtimetest.Dial(testkit.Context(t), srv.URL("/a"), &realtimetest.Options{Header: http.Header{"X-Who": {"bad"}}, SkipConnected: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e := wantError(t, c); e["code"] != realtime.CodeUnauthorized {
		t.Fatalf("refusal %v", e)
	}
	if code, _ := c.WaitClosed(testkit.Context(t)); code != realtime.CloseUnauthorized {
		t.Fatalf("close %d", code)
	}
})

var _ = row("`onConnect`, `onDisconnect(ctx, reason)`", func(t *testing.T) {
	reasons := make(chan error, 1)
	srv := serve(t, quiet(), nil, realtime.Route{
		Namespace:    "/l",
		OnConnect:    func(c *realtime.Ctx) error { return c.Reply("hello", nil) },
		OnDisconnect: func(c *realtime.Ctx) error { reasons <- c.DisconnectReason(); return nil },
		Events:       map[string]realtime.Event{"ping": pingEvent},
	})
	c := dial(t, srv, "/l")
	wantEvent(t, c, "hello")
	c.Close()
	select {
	case r := <-reasons:
		if r == nil {
			t.Fatal("no disconnect reason")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnDisconnect did not run")
	}
})

var _ = row("`events: { name: handler }`", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/e", Events: map[string]realtime.Event{
		"a": {Handler: func(c *realtime.Ctx) error { return c.Ack("A") }},
		"b": {Handler: func(c *realtime.Ctx) error { return c.Ack("B") }},
	}})
	c := dial(t, srv, "/e")
	if a, b := testkit.Request(t, c, "a", nil), testkit.Request(t, c, "b", nil); string(a) != `"A"` || string(b) != `"B"` {
		t.Fatalf("acks %s %s", a, b)
	}
})

var _ = row("`schema` (Zod / Valibot)", func(t *testing.T) {
	ran := 0
	srv := serve(t, quiet(), realtime.Chain(middleware.Validate), realtime.Route{Namespace: "/s", Events: map[string]realtime.Event{
		"send": {Schema: realtime.JSON[sendMessage](), Handler: realtime.Typed(func(c *realtime.Ctx, m sendMessage) error {
			ran++
			return c.Ack(m.Text)
		})},
	}})
	c := dial(t, srv, "/s")
	if got := testkit.Request(t, c, "send", sendMessage{Text: "ok"}); string(got) != `"ok"` {
		t.Fatalf("ack %s", got)
	}
	_, err := c.Request(testkit.Context(t), "send", sendMessage{Text: strings.Repeat("x", 501)})
	var e *realtime.Error
	if !errors.As(err, &e) || e.Code != realtime.CodeBadPayload || e.Details.(map[string]any)["text"] == nil {
		t.Fatalf("invalid text: %v", err)
	}
	if ran != 1 {
		t.Fatalf("handler ran %d times; want 1", ran)
	}
})

// burstOf sends events at once and counts how many pass before the first
// refusal.
func burstOf(t *testing.T, c *realtimetest.Client, event string, n int) int {
	t.Helper()
	passed := 0
	for range n {
		if _, err := c.Request(testkit.Context(t), event, nil); err != nil {
			if !isCode(err, realtime.CodeRateLimit) {
				t.Fatal(err)
			}
			return passed
		}
		passed++
	}
	return passed
}

// burstServer serves one event limited to rate with the RateLimit options.
func burstServer(t *testing.T, rate realtime.Rate, opts middleware.RateLimitOpts) *realtimetest.Server {
	// A rate of one event per 1000 s refills nothing while the test runs.
	return serve(t, quiet(), realtime.Chain(middleware.RateLimit(opts)), realtime.Route{Namespace: "/b", Events: map[string]realtime.Event{
		"e": {RateLimit: &rate, Handler: nop},
	}})
}

var _ = row("`rateLimit: { eventsPerSecond, burst }`", func(t *testing.T) {
	slow := 0.001
	for _, tc := range []struct {
		name string
		rate realtime.Rate
		opts middleware.RateLimitOpts
		want int
	}{
		{"burst given", realtime.Rate{EventsPerSecond: slow, Burst: 10}, middleware.RateLimitOpts{}, 10},
		{"no burst: one second of events", realtime.Rate{EventsPerSecond: 5, Burst: 0}, middleware.RateLimitOpts{PerSocket: &realtime.Rate{EventsPerSecond: -1}}, 5},
		{"no burst with loly's options: two seconds", realtime.Rate{EventsPerSecond: 5}, loly.RateLimitOpts(), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, burstServer(t, tc.rate, tc.opts), "/b")
			// At 5 a second, a token may come back while the burst is sent:
			// count against the burst plus what refilled.
			start := time.Now()
			got := burstOf(t, c, "e", tc.want+20)
			refill := int(time.Since(start).Seconds()*tc.rate.EventsPerSecond) + 1
			if got < tc.want || got > tc.want+refill {
				t.Fatalf("%d events passed; want %d (+%d refilled at most)", got, tc.want, refill)
			}
		})
	}
})

var _ = row("`guard: ({ user, req, namespace }) => boolean`", func(t *testing.T) {
	srv := serve(t, quiet(), realtime.Chain(middleware.Guard), realtime.Route{
		Namespace: "/g",
		Guard:     func(c *realtime.Ctx) (bool, error) { return c.Request().Header.Get("X-In") != "no", nil },
		Events: map[string]realtime.Event{
			"open":   {Handler: nop},
			"closed": {Guard: func(*realtime.Ctx) (bool, error) { return false, nil }, Handler: nop},
		},
	})
	c := dial(t, srv, "/g")
	testkit.Request(t, c, "open", nil)
	if _, err := c.Request(testkit.Context(t), "closed", nil); !isCode(err, realtime.CodeForbidden) {
		t.Fatalf("event guard: %v", err)
	}
	if _, err := realtimetest.Dial(testkit.Context(t), srv.URL("/g"), &realtimetest.Options{Header: http.Header{"X-In": {"no"}}}); err == nil {
		t.Fatal("the route's guard let a socket in")
	}
})

type point struct {
	X int `json:"x"`
}

var _ = row("`ctx.data`", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/d", Events: map[string]realtime.Event{
		"raw": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Data()) }},
		"bind": {Handler: func(c *realtime.Ctx) error {
			var p point
			if err := c.Bind(&p); err != nil {
				return err
			}
			return c.Ack(p.X)
		}},
		"typed": {Handler: realtime.Typed(func(c *realtime.Ctx, p point) error { return c.Ack(p.X * 2) })},
	}})
	c := dial(t, srv, "/d")
	if got := testkit.Request(t, c, "raw", point{X: 3}); string(got) != `{"x":3}` {
		t.Fatalf("raw %s", got)
	}
	if got := testkit.Request(t, c, "bind", point{X: 4}); string(got) != "4" {
		t.Fatalf("bind %s", got)
	}
	if got := testkit.Request(t, c, "typed", point{X: 5}); string(got) != "10" {
		t.Fatalf("typed %s", got)
	}
})

var _ = row("`ctx.user`, `ctx.req`", func(t *testing.T) {
	srv := serve(t, quiet(), realtime.Chain(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		return &realtime.User{ID: "u1", Info: map[string]string{"name": "Ana"}}, nil
	})), realtime.Route{Namespace: "/u", Events: map[string]realtime.Event{
		"me": {Handler: func(c *realtime.Ctx) error {
			return c.Ack([]any{c.User().ID, c.User().Info, c.Request().Header.Get("X-Trace")})
		}},
	}})
	if got := testkit.Request(t, dial(t, srv, "/u", "X-Trace: t1"), "me", nil); string(got) != `["u1",{"name":"Ana"},"t1"]` {
		t.Fatalf("me %s", got)
	}
})

var _ = row("`ctx.state`", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/st", Events: map[string]realtime.Event{
		"count": {Handler: func(c *realtime.Ctx) error {
			n, err := loly.StateOf(c).Incr(c.Context(), "n", 1)
			if err != nil {
				return err
			}
			raw, err := c.Store().Get(c.Context(), "n")
			if err != nil {
				return err
			}
			return c.Ack([]any{n, string(raw)})
		}},
	}})
	c := dial(t, srv, "/st")
	testkit.Request(t, c, "count", nil)
	if got := testkit.Request(t, c, "count", nil); string(got) != `[2,"2"]` {
		t.Fatalf("count %s", got)
	}
})

var _ = row("`ctx.log`", func(t *testing.T) {
	var buf testkit.LogBuffer
	cfg := quiet()
	cfg.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	srv := serve(t, cfg, realtime.Chain(middleware.RequestID), realtime.Route{Namespace: "/log", Events: map[string]realtime.Event{
		"say": {Handler: func(c *realtime.Ctx) error { c.Logger().Info("said"); return nil }},
	}})
	c := dial(t, srv, "/log")
	testkit.Request(t, c, "say", nil)
	for _, r := range buf.JSONLines(t) {
		if r["msg"] == "said" {
			if r["namespace"] != "/log" || r["socketId"] != c.SocketID || r["event"] != "say" || r["requestId"] == "" || r["requestId"] == nil {
				t.Fatalf("record %v", r)
			}
			return
		}
	}
	t.Fatalf("no record: %v", buf.JSONLines(t))
})

// ---- Actions ----

// actionServer serves /act with handlers for each action, for three
// sockets a, b and c (a and b joined to room "r" by the test).
func actionServer(t *testing.T) (*realtimetest.Server, [3]*realtimetest.Client) {
	srv := serve(t, quiet(), realtime.Chain(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		return &realtime.User{ID: c.Request().Header.Get("X-User")}, nil
	})), realtime.Route{Namespace: "/act", Events: map[string]realtime.Event{
		"ping":      pingEvent,
		"reply":     {Handler: func(c *realtime.Ctx) error { return c.Reply("got", "reply") }},
		"emit":      {Handler: func(c *realtime.Ctx) error { return c.Emit("got", "emit") }},
		"broadcast": {Handler: func(c *realtime.Ctx) error { return c.Broadcast("got", "broadcast") }},
		"join":      {Handler: func(c *realtime.Ctx) error { return c.Join("r") }},
		"leave":     {Handler: func(c *realtime.Ctx) error { return c.Leave("r") }},
		"room":      {Handler: func(c *realtime.Ctx) error { return c.ToRoom("r").Emit("got", "room") }},
		"roomOut":   {Handler: func(c *realtime.Ctx) error { return c.ToRoom("r").Except(c.SocketID()).Emit("got", "room") }},
		"user":      {Handler: func(c *realtime.Ctx) error { return c.ToUser("u2").Emit("got", "user") }},
		"fail":      {Handler: func(c *realtime.Ctx) error { return c.Error("ROOM_FULL", "Room is full", map[string]int{"max": 2}) }},
		"ack":       {Handler: func(c *realtime.Ctx) error { return c.Ack("acked") }},
	}})
	return srv, [3]*realtimetest.Client{
		dial(t, srv, "/act", "X-User: u1"), dial(t, srv, "/act", "X-User: u2"), dial(t, srv, "/act", "X-User: u3"),
	}
}

// received returns how many "got" events each client has, after barriers.
func received(t *testing.T, cs [3]*realtimetest.Client) [3]int {
	var n [3]int
	for i, c := range cs {
		barrier(t, c)
		n[i] = c.Count("got")
		c.Events()
	}
	return n
}

func wantReceived(t *testing.T, cs [3]*realtimetest.Client, sender int, event string, want [3]int) {
	t.Helper()
	testkit.Request(t, cs[sender], event, nil)
	if got := received(t, cs); got != want {
		t.Fatalf("%s from socket %d reached %v; want %v", event, sender, got, want)
	}
}

var _ = row("`reply(event, payload)`", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 0, "reply", [3]int{1, 0, 0})
})

var _ = row("`emit(event, payload)` (whole namespace, the sender too)", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 0, "emit", [3]int{1, 1, 1})
})

var _ = row("`broadcast(event, payload)` (the namespace but the sender: loly's default)", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 0, "broadcast", [3]int{0, 1, 1})
})

var _ = row("`broadcast(event, payload, { excludeSelf: false })`", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 1, "emit", [3]int{1, 1, 1})
})

var _ = row("`join(room)`, `leave(room)`", func(t *testing.T) {
	_, cs := actionServer(t)
	testkit.Request(t, cs[1], "join", nil)
	wantReceived(t, cs, 0, "room", [3]int{0, 1, 0})
	testkit.Request(t, cs[1], "leave", nil)
	wantReceived(t, cs, 0, "room", [3]int{0, 0, 0})
})

var _ = row("`toRoom(room).emit(event, payload)` (the sender too when it is in the room)", func(t *testing.T) {
	_, cs := actionServer(t)
	testkit.Request(t, cs[0], "join", nil)
	testkit.Request(t, cs[1], "join", nil)
	wantReceived(t, cs, 0, "room", [3]int{1, 1, 0})
	wantReceived(t, cs, 0, "roomOut", [3]int{0, 1, 0})
	wantReceived(t, cs, 2, "room", [3]int{1, 1, 0})
})

var _ = row("`toUser(userId).emit(event, payload)`", func(t *testing.T) {
	srv, cs := actionServer(t)
	second := dial(t, srv, "/act", "X-User: u2")
	wantReceived(t, cs, 0, "user", [3]int{0, 1, 0})
	barrier(t, second)
	if second.Count("got") != 1 {
		t.Fatal("the user's second socket did not get it")
	}
	// Every instance: see "`toUser` really is cluster-wide."
})

var _ = row("`error(code, message, details)`", func(t *testing.T) {
	_, cs := actionServer(t)
	cs[0].Emit("fail", nil)
	e := wantError(t, cs[0])
	if e["code"] != "ROOM_FULL" || e["message"] != "Room is full" || e["details"].(map[string]any)["max"] != 2.0 {
		t.Fatalf("error %v", e)
	}
})

var _ = row("acknowledgement callbacks (loly never called them)", func(t *testing.T) {
	_, cs := actionServer(t)
	if got := testkit.Request(t, cs[0], "ack", nil); string(got) != `"acked"` {
		t.Fatalf("ack %s", got)
	}
	if got := testkit.Request(t, cs[0], "ping", nil); len(got) != 0 {
		t.Fatalf("empty ack %s", got)
	}
})

var _ = row("Errors are returned, not sent.", func(t *testing.T) {
	after := false
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/err", Events: map[string]realtime.Event{
		"ping": pingEvent,
		"fail": {Handler: func(c *realtime.Ctx) error {
			if err := c.Error("E", "first", nil); err != nil {
				return err
			}
			after = true
			return nil
		}},
	}})
	c := dial(t, srv, "/err")
	_, err := c.Request(testkit.Context(t), "fail", nil)
	if !isCode(err, "E") {
		t.Fatalf("error ack %v", err)
	}
	if e := wantError(t, c); e["message"] != "first" {
		t.Fatalf("event %v", e)
	}
	barrier(t, c)
	if n := c.Count(realtime.EventError); n != 0 || after {
		t.Fatalf("%d more errors; handler went on: %v", n, after)
	}
})
