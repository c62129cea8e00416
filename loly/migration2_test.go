package loly_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/broadcast/memory"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/loly"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
	"github.com/lolyjs/realtime/store"
	smemory "github.com/lolyjs/realtime/store/memory"
)

// ---- State ----

func stateCtx(t *testing.T) (*loly.State, store.Store) {
	st := smemory.New()
	t.Cleanup(func() { _ = st.Close() })
	return loly.NewState(st), st
}

var _ = row("`state.get(key)` / `state.set(key, value, { ttlMs })`", func(t *testing.T) {
	s, st := stateCtx(t)
	ctx := testkit.Context(t)
	if err := s.Set(ctx, "greeting", "hola", 0); err != nil {
		t.Fatal(err)
	}
	if raw, _ := st.Get(ctx, "greeting"); string(raw) != `"hola"` {
		t.Fatalf("stored %q; want JSON", raw)
	}
	var got string
	if found, err := s.Get(ctx, "greeting", &got); !found || err != nil || got != "hola" {
		t.Fatalf("Get = %q, %v, %v", got, found, err)
	}
	if found, err := s.Get(ctx, "missing", &got); found || err != nil {
		t.Fatalf("missing: %v, %v", found, err)
	}
	if err := s.Set(ctx, "short", map[string]int{"a": 1}, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var v map[string]int
		found, err := s.Get(ctx, "short", &v)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ttl did not expire the value")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Raw bytes with the store itself.
	if err := st.Set(ctx, "raw", []byte{0, 1}, 0); err != nil {
		t.Fatal(err)
	}
	if raw, _ := st.Get(ctx, "raw"); string(raw) != "\x00\x01" {
		t.Fatalf("raw %q", raw)
	}
})

var _ = row("`state.del(key)`", func(t *testing.T) {
	s, st := stateCtx(t)
	ctx := testkit.Context(t)
	_ = s.Set(ctx, "a", 1, 0)
	_ = s.ListPush(ctx, "b", 1, 0)
	if err := s.Del(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	var v any
	if found, _ := s.Get(ctx, "a", &v); found {
		t.Fatal("a survived Del")
	}
	if l, _ := s.ListRange(ctx, "b", 0, -1); len(l) != 0 {
		t.Fatal("b survived Delete")
	}
})

var _ = row("`state.incr(key, by)` / `state.decr(key, by)`", func(t *testing.T) {
	s, st := stateCtx(t)
	ctx := testkit.Context(t)
	if err := s.Set(ctx, "n", 5, 0); err != nil { // loly's set(key, 5)
		t.Fatal(err)
	}
	if n, err := s.Incr(ctx, "n", 3); n != 8 || err != nil {
		t.Fatalf("Incr = %d, %v", n, err)
	}
	if n, err := s.Decr(ctx, "n", 10); n != -2 || err != nil {
		t.Fatalf("Decr = %d, %v", n, err)
	}
	if n, err := st.Incr(ctx, "n", +2); n != 0 || err != nil {
		t.Fatalf("Store.Incr = %d, %v", n, err)
	}
	var v int
	if _, err := s.Get(ctx, "n", &v); err != nil || v != 0 {
		t.Fatalf("Get = %d, %v", v, err)
	}
})

var _ = row("`state.listPush(key, value, { maxLen })`", func(t *testing.T) {
	s, st := stateCtx(t)
	ctx := testkit.Context(t)
	for i := 1; i <= 5; i++ {
		if err := s.ListPush(ctx, "l", map[string]int{"n": i}, 3); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := st.ListRange(ctx, "l", 0, -1)
	if got := fmt.Sprintf("%s", raw); got != `[{"n":5} {"n":4} {"n":3}]` {
		t.Fatalf("list %s; want the newest three, newest first", got)
	}
	if _, err := st.ListPush(ctx, "l", 0, []byte("6")); err != nil {
		t.Fatal(err)
	}
	if last, _ := st.ListRange(ctx, "l", -1, -1); string(last[0]) != "6" {
		t.Fatalf("Store.ListPush put %q last; want 6 at the end", last)
	}
})

var _ = row("`state.listRange(key, start, end)`", func(t *testing.T) {
	s, st := stateCtx(t)
	ctx := testkit.Context(t)
	for i := 1; i <= 4; i++ {
		_ = s.ListPush(ctx, "l", i, 0)
	}
	// loly left out elements that are not JSON.
	_, _ = st.ListPush(ctx, "l", 0, []byte("not json"))
	got, err := s.ListRange(ctx, "l", 0, -1)
	if err != nil || fmt.Sprintf("%s", got) != "[4 3 2 1]" {
		t.Fatalf("ListRange = %s, %v", got, err)
	}
	if got, _ := s.ListRange(ctx, "l", -3, -2); fmt.Sprintf("%s", got) != "[2 1]" {
		t.Fatalf("negative indexes %s", got)
	}
	if raw, _ := st.ListRange(ctx, "l", 0, 1); fmt.Sprintf("%s", raw) != "[4 3]" {
		t.Fatalf("Store.ListRange %s", raw)
	}
})

var _ = row("`state.setAdd` / `setRem` / `setMembers`", func(t *testing.T) {
	s, st := stateCtx(t)
	ctx := testkit.Context(t)
	_ = s.SetAdd(ctx, "s", "a")
	_ = s.SetAdd(ctx, "s", "b")
	_, _ = st.SetAdd(ctx, "s", "c")
	_ = s.SetRem(ctx, "s", "a")
	_, _ = st.SetRemove(ctx, "s", "c")
	m, err := s.SetMembers(ctx, "s")
	if err != nil || len(m) != 1 || m[0] != "b" {
		t.Fatalf("members %v, %v", m, err)
	}
	if m, _ := st.SetMembers(ctx, "s"); len(m) != 1 {
		t.Fatalf("store members %v", m)
	}
})

var _ = row("presence (`get-users` in the counter example)", func(t *testing.T) {
	hub := memory.NewHub()
	shared := smemory.New()
	t.Cleanup(func() { _ = shared.Close() })
	instance := func() *realtimetest.Server {
		cfg := quiet()
		br := hub.Broker()
		t.Cleanup(func() { _ = br.Close() }) // after the server's, which is registered later
		cfg.Store, cfg.Broker = shared, br
		return serve(t, cfg, realtime.Chain(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
			return &realtime.User{ID: c.Request().Header.Get("X-User")}, nil
		})), realtime.Route{Namespace: "/p", Events: map[string]realtime.Event{
			"join": {Handler: func(c *realtime.Ctx) error { return c.Join("r") }},
			"users": {Handler: func(c *realtime.Ctx) error {
				all, err := c.In().Users(c.Context())
				if err != nil {
					return err
				}
				room, err := c.ToRoom("r").Users(c.Context())
				if err != nil {
					return err
				}
				return c.Ack([][]string{all, room})
			}},
		}})
	}
	a, b := instance(), instance()
	u1, u2 := dial(t, a, "/p", "X-User: u1"), dial(t, b, "/p", "X-User: u2")
	testkit.Request(t, u2, "join", nil)
	if got := testkit.Request(t, u1, "users", nil); string(got) != `[["u1","u2"],["u2"]]` {
		t.Fatalf("users across two instances %s", got)
	}
})

// ---- Configuration ----

var _ = row("`path: \"/wss\"`", func(t *testing.T) {
	if p := realtime.New(realtime.Config{}).Config().Path; p != "/wss" {
		t.Fatalf("Path %q", p)
	}
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/p", Events: map[string]realtime.Event{"ping": pingEvent}})
	if !strings.Contains(srv.URL("/p"), "/wss/p") {
		t.Fatalf("URL %s", srv.URL("/p"))
	}
	dial(t, srv, "/p")
})

// openPacket returns the Engine.IO open packet a Socket.IO client gets.
func openPacket(t *testing.T, cfg realtime.Config) map[string]any {
	srv := serve(t, cfg, nil, realtime.Route{Events: map[string]realtime.Event{"ping": pingEvent}})
	resp, err := http.Get(srv.Server.URL + "/wss/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var open map[string]any
	if len(b) == 0 || b[0] != '0' || json.Unmarshal(b[1:], &open) != nil {
		t.Fatalf("open packet %q", b)
	}
	return open
}

var _ = row("`pingIntervalMs: 25000`", func(t *testing.T) {
	if open := openPacket(t, quiet()); open["pingInterval"] != 25000.0 {
		t.Fatalf("default pingInterval %v", open["pingInterval"])
	}
	cfg := quiet()
	cfg.PingInterval = 1234 * time.Millisecond
	if open := openPacket(t, cfg); open["pingInterval"] != 1234.0 {
		t.Fatalf("pingInterval %v", open["pingInterval"])
	}
})

var _ = row("`pingTimeoutMs: 20000`", func(t *testing.T) {
	if open := openPacket(t, quiet()); open["pingTimeout"] != 20000.0 {
		t.Fatalf("default pingTimeout %v", open["pingTimeout"])
	}
	cfg := quiet()
	cfg.PingTimeout = 4321 * time.Millisecond
	if open := openPacket(t, cfg); open["pingTimeout"] != 4321.0 {
		t.Fatalf("pingTimeout %v", open["pingTimeout"])
	}
})

var _ = row("`maxPayloadBytes: 65536`", func(t *testing.T) {
	if open := openPacket(t, quiet()); open["maxPayload"] != 65536.0 {
		t.Fatalf("maxPayload %v", open["maxPayload"])
	}
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/m", Events: map[string]realtime.Event{"big": {Handler: nop}}})
	c := dial(t, srv, "/m")
	testkit.Request(t, c, "big", strings.Repeat("x", 60<<10))
	_ = c.Emit("big", strings.Repeat("x", 65<<10))
	if code, _ := c.WaitClosed(testkit.Context(t)); code != realtime.CloseTooBig {
		t.Fatalf("close %d; want 1009", code)
	}
})

// originStatus is the HTTP status of a WebSocket upgrade and of an
// Engine.IO handshake from origin (101 and 200 when allowed).
func originStatus(t *testing.T, srv *realtimetest.Server, origin string) (ws, eio int) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/o"), h)
	switch {
	case err == nil:
		ws = 101
		c.Close()
	case strings.Contains(err.Error(), "403"):
		ws = 403
	default:
		t.Fatalf("upgrade from %q: %v", origin, err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.Server.URL+"/wss/?EIO=4&transport=polling", nil)
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return ws, resp.StatusCode
}

func originServer(t *testing.T, cfg realtime.Config) *realtimetest.Server {
	return serve(t, cfg, nil, realtime.Route{Namespace: "/o", Events: map[string]realtime.Event{"ping": pingEvent}})
}

var _ = row("`allowedOrigins: \"*\"` or `[]` (loly's defaults: pages on localhost or 127.0.0.1, any port)", func(t *testing.T) {
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"", true},
		{"http://localhost:3000", true},
		{"https://localhost:8443", true},
		{"http://127.0.0.1:5173", true},
		{"https://127.0.0.1:1", true},
		{"http://localhost", false},
		{"http://127.0.0.1", false},
		{"http://localhost:3000.evil.com", false},
		{"http://evil.localhost:3000", false},
		{"ws://localhost:3000", false},
		{"http://[::1]:3000", false},
		{"https://app.example.com", false},
		{"null", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://server:8080/wss/", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := loly.LocalOrigins(r); got != tc.want {
			t.Errorf("LocalOrigins(%q) = %v; want %v", tc.origin, got, tc.want)
		}
	}
	cfg := quiet()
	loly.Configure(&cfg)
	srv := originServer(t, cfg)
	if ws, eio := originStatus(t, srv, "http://localhost:3000"); ws != 101 || eio != 200 {
		t.Fatalf("loly.Configure: localhost:3000 got %d and %d", ws, eio)
	}
	if ws, eio := originStatus(t, srv, "https://app.example.com"); ws != 403 || eio != 403 {
		t.Fatalf("loly.Configure: another origin got %d and %d", ws, eio)
	}
	// Without it: the server's own host only.
	srv = originServer(t, quiet())
	if ws, eio := originStatus(t, srv, "http://localhost:3000"); ws != 403 || eio != 403 {
		t.Fatalf("default: localhost:3000 got %d and %d", ws, eio)
	}
	if ws, _ := originStatus(t, srv, strings.Replace(srv.Server.URL, "127.0.0.1", "127.0.0.1", 1)); ws != 101 {
		t.Fatalf("default: own origin got %d", ws)
	}
	// "*" here is every origin.
	cfg = quiet()
	cfg.AllowedOrigins = []string{"*"}
	if ws, eio := originStatus(t, originServer(t, cfg), "https://evil.example"); ws != 101 || eio != 200 {
		t.Fatalf(`"*": got %d and %d`, ws, eio)
	}
})

var _ = row("`allowedOrigins: [\"https://app.example.com\"]`", func(t *testing.T) {
	cfg := quiet()
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	srv := originServer(t, cfg)
	if ws, eio := originStatus(t, srv, "https://app.example.com"); ws != 101 || eio != 200 {
		t.Fatalf("listed origin got %d and %d", ws, eio)
	}
	if ws, eio := originStatus(t, srv, "https://other.example.com"); ws != 403 || eio != 403 {
		t.Fatalf("other origin got %d and %d", ws, eio)
	}
})

// connections opens n native sockets from one address and returns how many
// got in and the error of the first refused.
func connections(t *testing.T, srv *realtimetest.Server, n int) (int, error) {
	in := 0
	for range n {
		c, err := realtimetest.Dial(testkit.Context(t), srv.URL("/o"), nil)
		if err != nil {
			return in, err
		}
		t.Cleanup(c.Close)
		in++
	}
	return in, nil
}

var _ = row("`limits.connectionsPerIp: 20` (declared, never enforced by loly)", func(t *testing.T) {
	in, err := connections(t, originServer(t, quiet()), 21)
	if in != 20 || err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("default: %d sockets in, then %v; want 20, then 429", in, err)
	}
	cfg := quiet()
	loly.Configure(&cfg)
	if cfg.Limits.ConnectionsPerIP != -1 {
		t.Fatalf("loly.Configure: ConnectionsPerIP %d", cfg.Limits.ConnectionsPerIP)
	}
	if in, err := connections(t, originServer(t, cfg), 30); in != 30 {
		t.Fatalf("limit off: %d sockets in, then %v", in, err)
	}
})

var _ = row("`limits.eventsPerSecond: 30`, `burst: 60`", func(t *testing.T) {
	cfg := realtime.New(realtime.Config{}).Config()
	if cfg.Limits.EventsPerSecond != 30 || cfg.Limits.Burst != 60 {
		t.Fatalf("defaults %v", cfg.Limits)
	}
	srv := serve(t, quiet(), realtime.Chain(middleware.RateLimit(middleware.RateLimitOpts{})),
		realtime.Route{Namespace: "/r", Events: map[string]realtime.Event{"e": {Handler: nop}}})
	c := dial(t, srv, "/r")
	start := time.Now()
	got := burstOf(t, c, "e", 200)
	refill := int(time.Since(start).Seconds()*30) + 1
	if got < 60 || got > 60+refill {
		t.Fatalf("%d events passed at once; want 60 (+%d refilled at most)", got, refill)
	}
})

var _ = row("`logging.level`", func(t *testing.T) {
	count := func(level slog.Level) int {
		var buf testkit.LogBuffer
		l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		srv := serve(t, quiet(), realtime.Chain(middleware.LoggerWithOpts(middleware.LoggerOpts{Logger: l, Level: level})),
			realtime.Route{Namespace: "/lv", Events: map[string]realtime.Event{"e": {Handler: nop}}})
		c := dial(t, srv, "/lv")
		testkit.Request(t, c, "e", nil)
		n := 0
		for _, r := range buf.JSONLines(t) {
			if r["event"] == "e" {
				n++
			}
		}
		return n
	}
	if n := count(slog.LevelInfo); n != 1 {
		t.Fatalf("events logged at info: %d lines", n)
	}
	if n := count(slog.LevelDebug); n != 0 {
		t.Fatalf("events logged at debug under an info logger: %d lines", n)
	}
})

var _ = row("`transports: [\"websocket\", \"polling\"]`", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/t", Events: map[string]realtime.Event{
		"echo": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Data()) }},
	}})
	p := openPoll(t, srv, nil)
	p.send("40/t,")
	p.next("40/t,")
	p.send(`42/t,1["echo","hi"]`)
	if got := p.next("43/t,1"); got != `43/t,1["hi"]` {
		t.Fatalf("polling ack %q", got)
	}
	p.close()
	conn, err := realtimetest.DialRaw(testkit.Context(t), "ws"+strings.TrimPrefix(srv.Server.URL, "http")+"/wss/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(r, hdr); err != nil || hdr[0] != 0x81 {
		t.Fatalf("first WebSocket frame %x, %v", hdr, err)
	}
	body := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(r, body); err != nil || body[0] != '0' {
		t.Fatalf("Engine.IO open over WebSocket %q, %v", body, err)
	}

	// DisableSocketIO serves native clients only.
	off := quiet()
	off.DisableSocketIO = true
	srv = serve(t, off, nil, realtime.Route{Namespace: "/t", Events: map[string]realtime.Event{
		"echo": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Data()) }},
	}})
	resp, err := http.Get(srv.Server.URL + "/wss/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("Engine.IO handshake with DisableSocketIO: HTTP %d, want 404", resp.StatusCode)
	}
	testkit.Request(t, dial(t, srv, "/t"), "echo", "native still served")
})

var _ = row("`cors: { credentials: true }`", func(t *testing.T) {
	cfg := quiet()
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	srv := originServer(t, cfg)
	req, _ := http.NewRequest(http.MethodGet, srv.Server.URL+"/wss/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "https://app.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("CORS headers %v", resp.Header)
	}
})

// ---- Errors ----

// errorServer serves /x with the standard stages, in loly's order, and one
// event per kind of error, with the given error handler.
func errorServer(t *testing.T, handler func(*realtime.Ctx, error)) *realtimetest.Client {
	cfg := quiet()
	cfg.ErrorHandler = handler
	srv := serve(t, cfg, realtime.Chain(middleware.RequestID, middleware.Validate, middleware.Guard,
		middleware.RateLimit(middleware.RateLimitOpts{PerSocket: &realtime.Rate{EventsPerSecond: 0.001, Burst: 5}})),
		realtime.Route{Namespace: "/x", Events: map[string]realtime.Event{
			"schema":  {Schema: realtime.JSON[sendMessage](), Handler: nop},
			"guard":   {Guard: func(*realtime.Ctx) (bool, error) { return false, nil }, Handler: nop},
			"limited": {RateLimit: &realtime.Rate{EventsPerSecond: 0.001, Burst: 1}, Handler: nop},
			"free":    {Handler: nop},
			"boom":    {Handler: func(*realtime.Ctx) error { return errors.New("db down") }},
			"own": {Handler: func(c *realtime.Ctx) error {
				return c.Error("NOT_YOUR_TURN", "It's not your turn", map[string]int{"turn": 1})
			}},
		}})
	return dial(t, srv, "/x")
}

// errorOf sends an event and returns the __loly:error it got.
func errorOf(t *testing.T, c *realtimetest.Client, event string, data any) map[string]any {
	t.Helper()
	if err := c.Emit(event, data); err != nil {
		t.Fatal(err)
	}
	e := wantError(t, c)
	if e["requestId"] == nil || e["requestId"] == "" {
		t.Fatalf("error without requestId: %v", e)
	}
	return e
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var _ = row("`BAD_PAYLOAD` \"Invalid payload\", `details: {error: <ZodError>}`", func(t *testing.T) {
	e := errorOf(t, errorServer(t, realtime.DefaultErrorHandler), "schema", sendMessage{})
	if e["code"] != "BAD_PAYLOAD" || e["message"] != "invalid payload" || jsonOf(e["details"]) != `{"text":"cannot be blank"}` {
		t.Fatalf("default %v", e)
	}
	e = errorOf(t, errorServer(t, loly.ErrorHandler), "schema", sendMessage{})
	want := `{"error":{"issues":[{"code":"custom","message":"cannot be blank","path":["text"]}],"name":"ZodError"}}`
	if e["code"] != "BAD_PAYLOAD" || e["message"] != "Invalid payload" || jsonOf(e["details"]) != want {
		t.Fatalf("loly.ErrorHandler %v", e)
	}
	// Data that is not even an object: one issue at the root.
	e = errorOf(t, errorServer(t, loly.ErrorHandler), "schema", "text")
	if iss := e["details"].(map[string]any)["error"].(map[string]any)["issues"].([]any); len(iss) != 1 || jsonOf(iss[0].(map[string]any)["path"]) != "[]" {
		t.Fatalf("root issue %v", e)
	}
})

var _ = row("`FORBIDDEN` \"Access denied\" (a guard said no)", func(t *testing.T) {
	if e := errorOf(t, errorServer(t, realtime.DefaultErrorHandler), "guard", nil); e["code"] != "FORBIDDEN" || e["message"] != "forbidden" {
		t.Fatalf("default %v", e)
	}
	if e := errorOf(t, errorServer(t, loly.ErrorHandler), "guard", nil); e["code"] != "FORBIDDEN" || e["message"] != "Access denied" || e["details"] != nil {
		t.Fatalf("loly.ErrorHandler %v", e)
	}
})

var _ = row("`RATE_LIMIT` \"Rate limit exceeded\", or \"Event rate limit exceeded\" for an event's own limit", func(t *testing.T) {
	c := errorServer(t, realtime.DefaultErrorHandler)
	testkit.Request(t, c, "limited", nil)
	e := errorOf(t, c, "limited", nil)
	d, _ := e["details"].(map[string]any)
	if e["code"] != "RATE_LIMIT" || e["message"] != "rate limit exceeded" || d["limit"] != "event" || d["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("default %v", e)
	}
	c = errorServer(t, loly.ErrorHandler)
	testkit.Request(t, c, "limited", nil)
	if e := errorOf(t, c, "limited", nil); e["message"] != "Event rate limit exceeded" || e["details"] != nil {
		t.Fatalf("loly.ErrorHandler, event limit %v", e)
	}
	// The socket's own limit (a burst of 5 here): four more pass.
	for range 3 {
		testkit.Request(t, c, "free", nil)
	}
	if e := errorOf(t, c, "free", nil); e["message"] != "Rate limit exceeded" || e["details"] != nil {
		t.Fatalf("loly.ErrorHandler, socket limit %v", e)
	}
})

var _ = row("`INTERNAL_ERROR` \"An error occurred while processing your request\" (a handler threw)", func(t *testing.T) {
	if e := errorOf(t, errorServer(t, realtime.DefaultErrorHandler), "boom", nil); e["code"] != "INTERNAL_ERROR" || e["message"] != "internal error" {
		t.Fatalf("default %v", e)
	}
	e := errorOf(t, errorServer(t, loly.ErrorHandler), "boom", nil)
	if e["code"] != "INTERNAL_ERROR" || e["message"] != "An error occurred while processing your request" || e["details"] != nil {
		t.Fatalf("loly.ErrorHandler %v", e)
	}
	if strings.Contains(jsonOf(e), "db down") {
		t.Fatalf("the cause reached the client: %v", e)
	}
})

var _ = row("your codes, from `error(code, message, details)`", func(t *testing.T) {
	for _, h := range []func(*realtime.Ctx, error){realtime.DefaultErrorHandler, loly.ErrorHandler} {
		e := errorOf(t, errorServer(t, h), "own", nil)
		if e["code"] != "NOT_YOUR_TURN" || e["message"] != "It's not your turn" || jsonOf(e["details"]) != `{"turn":1}` || e["event"] != "own" {
			t.Fatalf("%v", e)
		}
	}
})

var _ = row("nothing (loly dropped the event, kept the socket, or disconnected it)", func(t *testing.T) {
	for _, h := range []func(*realtime.Ctx, error){realtime.DefaultErrorHandler, loly.ErrorHandler} {
		c := errorServer(t, h)
		if e := errorOf(t, c, "nope", nil); e["code"] != realtime.CodeUnknownEvent {
			t.Fatalf("unknown event %v", e)
		}
		if err := c.SendRaw([]byte("{not json")); err != nil {
			t.Fatal(err)
		}
		if e := wantError(t, c); e["code"] != realtime.CodeBadMessage {
			t.Fatalf("bad message %v", e)
		}
	}
	// UNAUTHORIZED: see the auth row.
})

// ---- Legacy ----

var _ = row("`{ name: \"connection\", handler }`", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/lg",
		OnConnect: func(c *realtime.Ctx) error { return c.Reply("welcome", nil) },
		Events:    map[string]realtime.Event{"ping": pingEvent}})
	wantEvent(t, dial(t, srv, "/lg"), "welcome")
})

var _ = row("`{ name: \"message\", handler }`", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/lg", Events: map[string]realtime.Event{
		"message": {Handler: func(c *realtime.Ctx) error { return c.Ack("seen") }}}})
	if got := testkit.Request(t, dial(t, srv, "/lg"), "message", nil); string(got) != `"seen"` {
		t.Fatalf("ack %s", got)
	}
})

var _ = row("`actions.emit(...)`", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 2, "emit", [3]int{1, 1, 1})
})

var _ = row("`actions.emitTo(socketId, ...)`", func(t *testing.T) {
	kept := make(chan *realtime.Socket, 4)
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/lg",
		OnConnect: func(c *realtime.Ctx) error { kept <- c.Socket(); return c.Join("socket:" + c.SocketID()) },
		Events: map[string]realtime.Event{
			"ping": pingEvent,
			"to": {Handler: func(c *realtime.Ctx) error {
				var id string
				_ = c.Bind(&id)
				return c.ToRoom("socket:"+id).Emit("direct", "by room")
			}},
		}})
	a, b := dial(t, srv, "/lg"), dial(t, srv, "/lg")
	var sa *realtime.Socket
	for range 2 {
		if s := <-kept; s.ID() == a.SocketID {
			sa = s
		}
	}
	if err := sa.Emit("direct", "by socket"); err != nil {
		t.Fatal(err)
	}
	if d := wantEventData(t, a, "direct"); d != `"by socket"` {
		t.Fatalf("data %s", d)
	}
	testkit.Request(t, b, "to", a.SocketID)
	if d := wantEventData(t, a, "direct"); d != `"by room"` {
		t.Fatalf("data %s", d)
	}
	none(t, b, "direct")
})

var _ = row("`actions.emitToClient(clientId, ...)`", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 2, "user", [3]int{0, 1, 0})
})

var _ = row("`actions.broadcast(...)`", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 2, "broadcast", [3]int{1, 1, 0})
})

// ---- What you will notice ----

var _ = row("A broadcast leaves the sender out.", func(t *testing.T) {
	_, cs := actionServer(t)
	wantReceived(t, cs, 1, "broadcast", [3]int{1, 0, 1})
	wantReceived(t, cs, 1, "emit", [3]int{1, 1, 1})
})

var _ = row("Origins are checked on every transport.", func(t *testing.T) {
	srv := originServer(t, quiet())
	if ws, eio := originStatus(t, srv, "http://localhost:3000"); ws != 403 || eio != 403 {
		t.Fatalf("default: a page on localhost:3000 got %d and %d", ws, eio)
	}
	cfg := quiet()
	loly.Configure(&cfg)
	if ws, eio := originStatus(t, originServer(t, cfg), "http://localhost:3000"); ws != 101 || eio != 200 {
		t.Fatalf("loly.Configure: %d and %d", ws, eio)
	}
	// A Config that sets its own origins keeps them.
	cfg = quiet()
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	loly.Configure(&cfg)
	if cfg.CheckOrigin != nil {
		t.Fatal("loly.Configure replaced the application's origins")
	}
	if err := (realtime.Config{AllowedOrigins: []string{"*"}, CheckOrigin: loly.LocalOrigins}).Validate(); err == nil {
		t.Fatal("both AllowedOrigins and CheckOrigin set: no error")
	}
})

var _ = row("A per-event limit without a burst allows smaller bursts.", func(t *testing.T) {
	noSocketLimit := &realtime.Rate{EventsPerSecond: -1}
	rate := realtime.Rate{EventsPerSecond: 0.001 * 5000} // 5 a second
	a := burstOf(t, dial(t, burstServer(t, rate, middleware.RateLimitOpts{PerSocket: noSocketLimit}), "/b"), "e", 40)
	opts := loly.RateLimitOpts()
	opts.PerSocket = noSocketLimit
	b := burstOf(t, dial(t, burstServer(t, rate, opts), "/b"), "e", 40)
	if a < 5 || a > 8 || b < 10 || b > 13 {
		t.Fatalf("bursts %d and %d; want about 5 and 10", a, b)
	}
})

var _ = row("A store list has two ends.", func(t *testing.T) {
	s, st := stateCtx(t)
	ctx := testkit.Context(t)
	for i := 1; i <= 30; i++ {
		_, _ = st.ListPush(ctx, "appended", 0, []byte(fmt.Sprint(i)))
		_ = s.ListPush(ctx, "loly", i, 0)
	}
	first, _ := st.ListRange(ctx, "appended", 0, 0)
	newest, _ := s.ListRange(ctx, "loly", 0, 20)
	if string(first[0]) != "1" || len(newest) != 21 || string(newest[0]) != "30" || string(newest[20]) != "10" {
		t.Fatalf("Store.ListPush first %s; loly.State newest %s", first, newest)
	}
})

var _ = row("The per-address limit is enforced.", func(t *testing.T) {
	// Behind a proxy every client has the proxy's address, unless ClientIP
	// reads the real one.
	cfg := quiet()
	cfg.Limits.ConnectionsPerIP = 2
	cfg.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Real-IP") }
	srv := originServer(t, cfg)
	for _, ip := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"} {
		dial(t, srv, "/o", "X-Real-IP: "+ip)
	}
	if _, err := realtimetest.Dial(testkit.Context(t), srv.URL("/o"), &realtimetest.Options{Header: http.Header{"X-Real-IP": {"10.0.0.1"}}}); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("third socket from 10.0.0.1: %v", err)
	}
	migrationRows["`limits.connectionsPerIp: 20` (declared, never enforced by loly)"](t)
})

var _ = row("Acknowledgements are answered.", func(t *testing.T) {
	c := errorServer(t, realtime.DefaultErrorHandler)
	if got := testkit.Request(t, c, "free", nil); len(got) != 0 {
		t.Fatalf("ack %s", got)
	}
	if _, err := c.Request(testkit.Context(t), "own", nil); !isCode(err, "NOT_YOUR_TURN") {
		t.Fatalf("error ack %v", err)
	}
})

var _ = row("A connect handler's error refuses the socket.", func(t *testing.T) {
	fail := func(c *realtime.Ctx) error {
		_ = c.Reply("before", nil)
		return errors.New("state store down")
	}
	route := func(h realtime.Handler) realtime.Route {
		return realtime.Route{Namespace: "/c", OnConnect: h, Events: map[string]realtime.Event{"ping": pingEvent}}
	}
	srv := serve(t, quiet(), nil, route(fail))
	if _, err := realtimetest.Dial(testkit.Context(t), srv.URL("/c"), nil); err == nil {
		t.Fatal("the socket was kept")
	}
	srv = serve(t, quiet(), nil, route(loly.KeepSocket(fail)))
	c := dial(t, srv, "/c")
	wantEvent(t, c, "before")
	barrier(t, c)
	srv = serve(t, quiet(), nil, route(loly.KeepSocket(func(*realtime.Ctx) error { panic("boom") })))
	barrier(t, dial(t, srv, "/c"))
})

var _ = row("Error messages and details are the mux's own", func(t *testing.T) {
	e := errorOf(t, errorServer(t, loly.ErrorHandler), "guard", nil)
	if e["event"] != "guard" || e["code"] != "FORBIDDEN" {
		t.Fatalf("%v", e)
	}
	cfg := realtime.Config{}
	loly.Configure(&cfg)
	if reflect.ValueOf(cfg.ErrorHandler).Pointer() != reflect.ValueOf(loly.ErrorHandler).Pointer() {
		t.Fatal("loly.Configure did not set loly.ErrorHandler")
	}
})

var _ = row("An auth error refuses the connection.", func(t *testing.T) {
	srv := serve(t, quiet(), realtime.Chain(middleware.Auth(nil)), realtime.Route{Namespace: "/a",
		Auth: func(c *realtime.Ctx) (*realtime.User, error) {
			if middleware.AuthToken(c) == "" {
				return nil, realtime.NewError("NO_TOKEN", "token required", nil)
			}
			return nil, errors.New("bad token")
		},
		Events: map[string]realtime.Event{"ping": pingEvent}})
	p := openPoll(t, srv, nil)
	p.send("40/a,")
	var ce struct {
		Message string         `json:"message"`
		Data    map[string]any `json:"data"`
	}
	if pkt := p.next("44/a,"); json.Unmarshal([]byte(strings.TrimPrefix(pkt, "44/a,")), &ce) != nil || ce.Data["code"] != "NO_TOKEN" {
		t.Fatalf("connect_error %q", pkt)
	}
	p.send(`40/a,{"token":"x"}`)
	if pkt := p.next("44/a,"); !strings.Contains(pkt, `"UNAUTHORIZED"`) {
		t.Fatalf("connect_error %q", pkt)
	}
	p.close()
})

var _ = row("Unknown events are answered.", func(t *testing.T) {
	mux := realtime.New(quiet())
	mux.Route(realtime.Route{Namespace: "/k", Events: map[string]realtime.Event{"ping": pingEvent}})
	mux.Namespace("/quiet", func(r *realtime.Mux) {
		r.NotFound(nop)
		r.Route(realtime.Route{Events: map[string]realtime.Event{"ping": pingEvent}})
	})
	srv := realtimetest.NewServer(t, mux)
	k := dial(t, srv, "/k")
	_ = k.Emit("nope", nil)
	if e := wantError(t, k); e["code"] != realtime.CodeUnknownEvent {
		t.Fatalf("%v", e)
	}
	c := dial(t, srv, "/quiet")
	_ = c.Emit("nope", nil)
	none(t, c, realtime.EventError)
})

var _ = row("Several arguments arrive as an array.", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/m", Events: map[string]realtime.Event{
		"echo": {Handler: func(c *realtime.Ctx) error { return c.Reply("echoed", c.Data()) }}}})
	p := openPoll(t, srv, nil)
	p.send("40/m,")
	p.next("40/m,")
	p.send(`42/m,["echo",1,"two"]`, `42/m,["echo",3]`)
	if got := p.next(`42/m,["echoed"`); got != `42/m,["echoed",[1,"two"]]` {
		t.Fatalf("two arguments %q", got)
	}
	if got := p.next(`42/m,["echoed"`); got != `42/m,["echoed",3]` {
		t.Fatalf("one argument %q", got)
	}
	p.close()
})

type required struct {
	Text string `json:"text"`
}

func (r required) Validate() error {
	if r.Text == "" {
		return realtime.NewError(realtime.CodeBadPayload, "text is required", nil)
	}
	return nil
}

var _ = row("A struct schema accepts missing data.", func(t *testing.T) {
	srv := serve(t, quiet(), realtime.Chain(middleware.Validate), realtime.Route{Namespace: "/z", Events: map[string]realtime.Event{
		"loose":  {Schema: realtime.JSON[point](), Handler: realtime.Typed(func(c *realtime.Ctx, p point) error { return c.Ack(p.X) })},
		"strict": {Schema: realtime.JSON[required](), Handler: nop},
	}})
	c := dial(t, srv, "/z")
	for _, data := range []any{nil, json.RawMessage("null")} {
		if got := testkit.Request(t, c, "loose", data); string(got) != "0" {
			t.Fatalf("loose with %v: %s", data, got)
		}
		if _, err := c.Request(testkit.Context(t), "strict", data); !isCode(err, realtime.CodeBadPayload) {
			t.Fatalf("strict with %v: %v", data, err)
		}
	}
})

var _ = row("Sustained rate-limit abuse closes the socket.", func(t *testing.T) {
	run := func(opts middleware.RateLimitOpts, n int) (*realtimetest.Client, int) {
		c := dial(t, burstServer(t, realtime.Rate{EventsPerSecond: 0.001, Burst: 1}, opts), "/b")
		for range n {
			if err := c.Emit("e", nil); err != nil {
				break
			}
		}
		return c, n
	}
	c, _ := run(middleware.RateLimitOpts{}, 560)
	if code, _ := c.WaitClosed(testkit.Context(t)); code != realtime.ClosePolicy {
		t.Fatalf("close %d; want 1008", code)
	}
	if n := c.Count(realtime.EventError); n != 500 {
		t.Fatalf("%d refusals before the close; want 500", n)
	}
	// The first event passes; 599 are refused, and the socket stays.
	c, _ = run(middleware.RateLimitOpts{AbuseThreshold: -1}, 600)
	waitCount(t, c, realtime.EventError, 599)
	if c.Closed() {
		t.Fatal("closed with AbuseThreshold -1")
	}
})

// waitCount waits until c has n events of a name.
func waitCount(t *testing.T, c *realtimetest.Client, event string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Count(event) < n {
		if time.Now().After(deadline) || c.Closed() {
			t.Fatalf("%d %s events; want %d (closed: %v)", c.Count(event), event, n, c.Closed())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = row("Event names are case-sensitive.", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/n", Events: map[string]realtime.Event{"send-message": {Handler: nop}}})
	c := dial(t, srv, "/n")
	testkit.Request(t, c, "send-message", nil)
	if _, err := c.Request(testkit.Context(t), "Send-Message", nil); !isCode(err, realtime.CodeUnknownEvent) {
		t.Fatalf("Send-Message: %v", err)
	}
})

var _ = row("Route problems are reported at `Start`", func(t *testing.T) {
	mux := realtime.New(quiet())
	mux.Route(realtime.Route{Namespace: "/bad", Events: map[string]realtime.Event{
		"__loly:x":  {Handler: nop},
		"$connect":  {Handler: nop},
		"nohandler": {},
		"rate":      {Handler: nop, RateLimit: &realtime.Rate{EventsPerSecond: 0}},
	}})
	mux.Route(realtime.Route{Namespace: "/empty"})
	err := mux.Start(context.Background())
	if err == nil {
		t.Fatal("Start accepted the routes")
	}
	for _, want := range []string{"__loly:", `"$"`, "Handler is nil", "EventsPerSecond", "Events is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start's error lacks %q:\n%v", want, err)
		}
	}
})

var _ = row("`state.lock` has no counterpart.", func(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[store.Store](), reflect.TypeFor[*loly.State]()} {
		for i := range typ.NumMethod() {
			if strings.Contains(strings.ToLower(typ.Method(i).Name), "lock") {
				t.Errorf("%v has %s", typ, typ.Method(i).Name)
			}
		}
	}
})

var _ = row("`toUser` really is cluster-wide.", func(t *testing.T) {
	hub := memory.NewHub()
	shared := smemory.New()
	t.Cleanup(func() { _ = shared.Close() })
	instance := func() *realtimetest.Server {
		cfg := quiet()
		br := hub.Broker()
		t.Cleanup(func() { _ = br.Close() }) // after the server's, which is registered later
		cfg.Store, cfg.Broker = shared, br
		return serve(t, cfg, realtime.Chain(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
			return &realtime.User{ID: c.Request().Header.Get("X-User")}, nil
		})), realtime.Route{Namespace: "/u", Events: map[string]realtime.Event{
			"ping": pingEvent,
			"dm":   {Handler: func(c *realtime.Ctx) error { return c.ToUser("u2").Emit("dm", "hi") }},
		}})
	}
	a, b := instance(), instance()
	sender, there := dial(t, a, "/u", "X-User: u1"), dial(t, b, "/u", "X-User: u2")
	testkit.Request(t, sender, "dm", nil)
	if d := wantEventData(t, there, "dm"); d != `"hi"` {
		t.Fatalf("dm %s", d)
	}
})

var _ = row("Existing front-ends keep working.", func(t *testing.T) {
	// The example apps' test runs loly's own pages; here, the protocol
	// steps they take.
	migrationRows["`transports: [\"websocket\", \"polling\"]`"](t)
})

var _ = row("New clients can use the native protocol", func(t *testing.T) {
	srv := serve(t, quiet(), nil, realtime.Route{Namespace: "/nat", Events: map[string]realtime.Event{
		"echo": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Data()) }}}})
	if got := testkit.Request(t, dial(t, srv, "/nat"), "echo", map[string]int{"a": 1}); string(got) != `{"a":1}` {
		t.Fatalf("ack %s", got)
	}
})
