package middleware_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// lazyValue counts how often slog asked it for its value: only a handler
// that formats a record does.
type lazyValue struct{ n *atomic.Int64 }

func (v lazyValue) LogValue() slog.Value {
	v.n.Add(1)
	return slog.StringValue("formatted")
}

// With the handler at Warn, successful events write nothing and format
// nothing: the handler is asked Enabled and never Handle, WithAttrs or
// WithGroup, and a lazy attribute of a handler's own Info line is never
// resolved. A refused event is one Warn line with its code, an internal
// error one Error line with its cause.
func TestLoggerLevelGating(t *testing.T) {
	rec := newLogRec(slog.LevelWarn)
	var resolved, runs atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Logger(rec.logger()), middleware.Recoverer,
		middleware.Auth(headerAuth), middleware.Validate, middleware.Guard)
	mux.On("ok", func(c *realtime.Ctx) error {
		runs.Add(1)
		c.Logger().Info("handler line", "lazy", lazyValue{&resolved})
		c.Logger().Debug("handler debug", "lazy", lazyValue{&resolved})
		return nil
	})
	mux.Handle("denied", realtime.Event{
		Guard:   func(*realtime.Ctx) (bool, error) { return false, nil },
		Handler: ok,
	})
	mux.On("broken", func(*realtime.Ctx) error { return errors.New("db: connection reset by peer") })
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), as("u1"))

	for range 25 {
		if _, err := cl.Request(testkit.Context(t), "ok", map[string]int{"n": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != 25 {
		t.Fatalf("handler ran %d times", runs.Load())
	}
	if n := rec.handles.Load(); n != 0 {
		t.Fatalf("Handle called %d times for successful events at Warn: %+v", n, rec.Records())
	}
	if n := rec.withCalls.Load(); n != 0 {
		t.Fatalf("WithAttrs/WithGroup called %d times: attributes were formatted for a disabled level", n)
	}
	if n := resolved.Load(); n != 0 {
		t.Fatalf("a lazy attribute was resolved %d times for a disabled level", n)
	}
	var askedInfo bool
	for _, l := range rec.EnabledLevels() {
		askedInfo = askedInfo || l == slog.LevelInfo
	}
	if !askedInfo {
		t.Fatalf("Enabled was never asked about Info; levels asked: %v", rec.EnabledLevels())
	}

	_, err := cl.Request(testkit.Context(t), "denied", nil)
	denied := wantError(t, err, realtime.CodeForbidden)
	lines := rec.find("event", "event", "denied")
	if len(lines) != 1 {
		t.Fatalf("refused event: %d lines, want 1: %+v", len(lines), rec.Records())
	}
	l := lines[0]
	if l.Level != slog.LevelWarn || l.str("outcome") != realtime.CodeForbidden ||
		l.str("requestId") != denied.RequestID || l.str("userId") != "u1" || l.str("socketId") != cl.SocketID {
		t.Fatalf("refused event line: %+v (client error %+v)", l, denied)
	}
	if _, has := l.Attrs["error"]; has {
		t.Fatalf("a refusal logs no error cause: %+v", l)
	}
	if _, isDur := l.Attrs["duration"].(time.Duration); !isDur {
		t.Fatalf("no duration: %+v", l)
	}

	_, err = cl.Request(testkit.Context(t), "broken", nil)
	broken := wantError(t, err, realtime.CodeInternal)
	if strings.Contains(broken.Message, "connection reset") {
		t.Fatalf("the cause reached the client: %+v", broken)
	}
	lines = rec.find("event", "event", "broken")
	if len(lines) != 1 {
		t.Fatalf("internal error: %d lines, want 1: %+v", len(lines), rec.Records())
	}
	l = lines[0]
	if l.Level != slog.LevelError || l.str("outcome") != realtime.CodeInternal ||
		l.str("error") != "db: connection reset by peer" || l.str("requestId") != broken.RequestID {
		t.Fatalf("internal error line: %+v", l)
	}
	// Connects and disconnects are Info: not written at Warn either.
	cl.Close()
	srv.Close()
	if got := rec.find("connect", "", ""); len(got) != 0 {
		t.Fatalf("connect written at Warn: %+v", got)
	}
	if got := rec.find("disconnect", "", ""); len(got) != 0 {
		t.Fatalf("disconnect written at Warn: %+v", got)
	}
}

// Every event line carries namespace, socketId, event, requestId, userId,
// duration and outcome; connects and disconnects have their own lines, the
// disconnect with its reason; a refused connect is a Warn line.
func TestLoggerEventAndLifecycleLines(t *testing.T) {
	rec := newLogRec(slog.LevelDebug)
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Logger(rec.logger()),
		middleware.AuthWithOpts(middleware.AuthOpts{Hook: headerAuth, Required: true}))
	mux.Namespace("/room", func(r *realtime.Mux) {
		r.On("hello", func(c *realtime.Ctx) error { return c.Ack(c.RequestID()) })
		r.On("kick", func(c *realtime.Ctx) error {
			c.Socket().Close(realtime.ClosePolicy, "kicked by test")
			return nil
		})
	})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/room"), as("u1"))

	raw, err := cl.Request(testkit.Context(t), "hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The handler acks before the Logger writes its line.
	var l logRecord
	testkit.Eventually(t, "the event line", func() bool {
		lines := rec.find("event", "event", "hello")
		if len(lines) == 1 {
			l = lines[0]
		}
		return len(lines) == 1
	})
	want := map[string]string{"namespace": "/room", "socketId": cl.SocketID, "event": "hello",
		"requestId": strings.Trim(string(raw), `"`), "userId": "u1", "outcome": "ok"}
	for k, v := range want {
		if l.str(k) != v {
			t.Fatalf("event line %s = %q, want %q: %+v", k, l.str(k), v, l)
		}
	}
	if _, isDur := l.Attrs["duration"].(time.Duration); !isDur || l.Level != slog.LevelInfo {
		t.Fatalf("event line level/duration: %+v", l)
	}

	connects := rec.find("connect", "socketId", cl.SocketID)
	if len(connects) != 1 {
		t.Fatalf("connect lines: %+v", rec.Records())
	}
	c := connects[0]
	if c.Level != slog.LevelInfo || c.str("event") != realtime.EventConnect || c.str("outcome") != "ok" ||
		c.str("userId") != "u1" || c.str("requestId") == "" || c.str("namespace") != "/room" {
		t.Fatalf("connect line: %+v", c)
	}

	// A client that leaves: the disconnect line has the reason.
	cl.Close()
	var d logRecord
	testkit.Eventually(t, "disconnect line", func() bool {
		ds := rec.find("disconnect", "socketId", cl.SocketID)
		if len(ds) == 1 {
			d = ds[0]
		}
		return len(ds) == 1
	})
	if d.Level != slog.LevelInfo || d.str("event") != realtime.EventDisconnect || d.str("reason") == "" ||
		d.str("userId") != "u1" || d.str("requestId") == "" || d.str("requestId") == c.str("requestId") {
		t.Fatalf("disconnect line: %+v", d)
	}

	// A socket the server closes: its reason says so.
	kicked := realtimetest.MustDial(t, srv.URL("/room"), as("u2"))
	_ = kicked.Emit("kick", nil)
	if code, _ := kicked.WaitClosed(testkit.Context(t)); code != realtime.ClosePolicy {
		t.Fatalf("kicked with %d", code)
	}
	testkit.Eventually(t, "disconnect line of the kicked socket", func() bool {
		ds := rec.find("disconnect", "socketId", kicked.SocketID)
		return len(ds) == 1 && ds[0].str("reason") != "" && ds[0].str("reason") != d.str("reason")
	})

	// A refused connect is a Warn line with the code.
	before := len(rec.find("connect", "outcome", realtime.CodeUnauthorized))
	if code, _, _ := refusedConnect(t, srv.URL("/room"), nil); code != realtime.CloseUnauthorized {
		t.Fatalf("anonymous socket closed with %d", code)
	}
	refused := rec.find("connect", "outcome", realtime.CodeUnauthorized)
	if len(refused) != before+1 || refused[len(refused)-1].Level != slog.LevelWarn {
		t.Fatalf("refused connect lines: %+v", refused)
	}
}

// LoggerWithOpts.Level is the level of successful events; connects and
// disconnects use Info or Level, whichever is higher.
func TestLoggerWithOptsLevel(t *testing.T) {
	for _, tc := range []struct {
		name              string
		level, handlerMin slog.Level
		eventLevel        slog.Level // -100: not written
		connectLevel      slog.Level
	}{
		{"debug events hidden at info", slog.LevelDebug, slog.LevelInfo, -100, slog.LevelInfo},
		{"debug events shown at debug", slog.LevelDebug, slog.LevelDebug, slog.LevelDebug, slog.LevelInfo},
		{"warn", slog.LevelWarn, slog.LevelInfo, slog.LevelWarn, slog.LevelWarn},
		{"warn hides nothing at warn", slog.LevelWarn, slog.LevelWarn, slog.LevelWarn, slog.LevelWarn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newLogRec(tc.handlerMin)
			mux := realtime.New(quiet())
			mux.Use(middleware.RequestID, middleware.LoggerWithOpts(middleware.LoggerOpts{Logger: rec.logger(), Level: tc.level}))
			mux.On("ping", ok)
			mux.On("bad", func(c *realtime.Ctx) error { return c.Error("NOPE", "no", nil) })
			srv := realtimetest.NewServer(t, mux)
			cl := realtimetest.MustDial(t, srv.URL("/"), nil)
			if _, err := cl.Request(testkit.Context(t), "ping", nil); err != nil {
				t.Fatal(err)
			}
			_, _ = cl.Request(testkit.Context(t), "bad", nil)

			events := rec.find("event", "event", "ping")
			switch {
			case tc.eventLevel == -100 && len(events) != 0:
				t.Fatalf("event written: %+v", events)
			case tc.eventLevel != -100 && (len(events) != 1 || events[0].Level != tc.eventLevel):
				t.Fatalf("event lines %+v, want one at %v", events, tc.eventLevel)
			}
			if bad := rec.find("event", "event", "bad"); len(bad) != 1 || bad[0].Level != slog.LevelWarn {
				t.Fatalf("refusals stay at Warn: %+v", bad)
			}
			connects := rec.find("connect", "", "")
			if len(connects) != 1 || connects[0].Level != tc.connectLevel {
				t.Fatalf("connect lines %+v, want one at %v", connects, tc.connectLevel)
			}
		})
	}
}

// LoggerOpts without a Logger writes to the mux's Config.Logger, the
// access lines and the handlers' own lines alike.
func TestLoggerDefaultsToTheMuxLogger(t *testing.T) {
	rec := newLogRec(slog.LevelInfo)
	mux := realtime.New(realtime.Config{Logger: rec.logger()})
	mux.Use(middleware.RequestID, middleware.LoggerWithOpts(middleware.LoggerOpts{}))
	mux.On("ping", func(c *realtime.Ctx) error {
		c.Logger().Info("handler line")
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	if _, err := cl.Request(testkit.Context(t), "ping", nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.find("event", "event", "ping")) != 1 || len(rec.find("handler line", "event", "ping")) != 1 {
		t.Fatalf("want the access line and the handler's line in Config.Logger: %+v", rec.Records())
	}
}

// Credentials never reach the logs: a Bearer token, a session cookie and a
// ?token= query, on sockets that are accepted and refused, whose events
// succeed, fail, panic and disconnect, appear in no line of either logger.
func TestLoggerNeverLogsCredentials(t *testing.T) {
	const (
		bearerTok = "bearer-SECRET-1f9a"
		cookieTok = "cookie-SECRET-77c2"
		queryTok  = "query-SECRET-5be0"
		badTok    = "bad-SECRET-0d41"
	)
	users := map[string]string{bearerTok: "ann", cookieTok: "bob", queryTok: "cid"}
	stageOut, muxOut := &testkit.LogBuffer{}, &testkit.LogBuffer{}
	stageLog := slog.New(slog.NewJSONHandler(stageOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	muxLog := slog.New(slog.NewJSONHandler(muxOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := realtime.New(realtime.Config{Logger: muxLog})
	mux.Use(middleware.RequestID, middleware.Logger(stageLog), middleware.Recoverer,
		middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
			id, known := users[middleware.Credential(c.Request(), "sid")]
			if !known {
				return nil, errors.New("unknown credential")
			}
			return &realtime.User{ID: id}, nil
		}), middleware.Validate, middleware.Guard)
	mux.On("hi", func(c *realtime.Ctx) error {
		c.Logger().Info("handler line", "path", c.Request().URL.Path)
		return nil
	})
	mux.On("fail", func(c *realtime.Ctx) error { return c.Error("NOPE", "no", nil) })
	mux.On("broken", func(*realtime.Ctx) error { return errors.New("downstream failed") })
	mux.On("panic", func(*realtime.Ctx) error { panic("handler bug") })
	srv := realtimetest.NewServer(t, mux)

	for _, opts := range []*realtimetest.Options{
		{Header: http.Header{"Authorization": {"Bearer " + bearerTok}}},
		{Header: http.Header{"Cookie": {"sid=" + cookieTok}}},
		nil,
	} {
		url := srv.URL("/")
		if opts == nil {
			url += "?token=" + queryTok
		}
		cl := realtimetest.MustDial(t, url, opts)
		for _, ev := range []string{"hi", "fail", "broken", "panic", "nope"} {
			_, _ = cl.Request(testkit.Context(t), ev, map[string]string{"x": "y"})
		}
		cl.Close()
	}
	if code, _, _ := refusedConnect(t, srv.URL("/")+"?token="+badTok,
		&realtimetest.Options{Header: http.Header{"Authorization": {"Bearer " + badTok}, "Cookie": {"sid=" + badTok}}}); code != realtime.CloseUnauthorized {
		t.Fatalf("bad credential closed with %d", code)
	}
	srv.Close()

	all := stageOut.String() + muxOut.String()
	for _, tok := range []string{bearerTok, cookieTok, queryTok, badTok, "SECRET"} {
		if strings.Contains(all, tok) {
			t.Fatalf("credential %q logged:\n%s", tok, all)
		}
	}
	// The logs did cover all of it (so the absence means something).
	lines := stageOut.JSONLines(t)
	seen := map[string]bool{}
	for _, l := range lines {
		if u, _ := l["userId"].(string); u != "" {
			seen[u] = true
		}
		if msg, _ := l["msg"].(string); msg != "" {
			seen[msg] = true
		}
	}
	for _, want := range []string{"ann", "bob", "cid", "connect", "disconnect", "event", "panic in handler", "handler line"} {
		if !seen[want] {
			t.Fatalf("no log line with %q; lines: %s", want, all)
		}
	}
	if !strings.Contains(all, `"outcome":"UNAUTHORIZED"`) {
		t.Fatalf("the refused connect was not logged:\n%s", all)
	}
}

// The socket's attributes are handed to a handler that is a pointer once
// per socket, with WithAttrs, and every line still carries its own
// socket's: two users and an anonymous socket, their events interleaved.
func TestLoggerSocketAttributesOncePerSocket(t *testing.T) {
	rec := newLogRec(slog.LevelInfo)
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Logger(rec.ptrLogger()), middleware.Auth(headerAuth))
	mux.On("ping", func(c *realtime.Ctx) error {
		c.Logger().Info("handler line")
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	users := []string{"u1", "u2", ""}
	clients := make([]*realtimetest.Client, len(users))
	for i, u := range users {
		opts := as(u)
		if u == "" {
			opts = nil
		}
		clients[i] = realtimetest.MustDial(t, srv.URL("/"), opts)
	}
	const rounds = 5
	for range rounds {
		for _, cl := range clients {
			if _, err := cl.Request(testkit.Context(t), "ping", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, cl := range clients {
		for _, msg := range []string{"event", "handler line"} {
			lines := rec.find(msg, "socketId", cl.SocketID)
			if msg == "event" {
				// The handler acks before the Logger writes its line.
				testkit.Eventually(t, "the event lines", func() bool {
					lines = rec.find(msg, "socketId", cl.SocketID)
					return len(lines) == rounds
				})
			}
			if len(lines) != rounds {
				t.Fatalf("socket %d: %d %q lines, want %d: %+v", i, len(lines), msg, rounds, rec.Records())
			}
			seen := map[string]bool{}
			for _, l := range lines {
				if l.str("userId") != users[i] || l.str("namespace") != "/" || l.str("event") != "ping" || l.str("requestId") == "" {
					t.Fatalf("socket %d (user %q): line %+v", i, users[i], l)
				}
				if _, has := l.Attrs["userId"]; users[i] == "" && has {
					t.Fatalf("anonymous socket's line has a userId: %+v", l)
				}
				if seen[l.str("requestId")] {
					t.Fatalf("two %q lines with one requestId: %+v", msg, lines)
				}
				seen[l.str("requestId")] = true
			}
		}
	}
	if n := rec.withCalls.Load(); n != int64(len(clients)) {
		t.Fatalf("WithAttrs called %d times for %d sockets", n, len(clients))
	}
}
