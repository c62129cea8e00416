package realtime_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// tokenAuth binds the user named by a Bearer token or a ?token= query.
func tokenAuth(c *realtime.Ctx) (*realtime.User, error) {
	tok := middleware.Credential(c.Request(), "")
	if !strings.HasPrefix(tok, "t-") {
		return nil, errors.New("bad token")
	}
	return &realtime.User{ID: strings.TrimPrefix(tok, "t-")}, nil
}

func bearer(tok string) *realtimetest.Options {
	return &realtimetest.Options{Header: http.Header{"Authorization": {"Bearer " + tok}}}
}

// Acceptance test 4 of the seed checklist: the auth hook prevents identity
// spoofing.
func TestAuthHookPreventsIdentitySpoofing(t *testing.T) {
	mux := realtime.New(realtime.Config{})
	mux.Use(middleware.RequestID, middleware.Recoverer, middleware.AuthWithOpts(middleware.AuthOpts{Hook: tokenAuth, Required: true}), middleware.Validate)
	type claim struct {
		UserID string `json:"userId"`
		Text   string `json:"text"`
		To     string `json:"to"`
	}
	mux.Route(realtime.Route{Events: map[string]realtime.Event{
		"whoami": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.UserID()) }},
		// The payload claims an identity; the handler must act as the socket's user.
		"say": {Schema: realtime.JSON[claim](), Handler: realtime.Typed(func(c *realtime.Ctx, m claim) error {
			return c.Emit("said", map[string]string{"from": c.UserID(), "text": m.Text})
		})},
		"dm": {Schema: realtime.JSON[claim](), Handler: realtime.Typed(func(c *realtime.Ctx, m claim) error {
			return c.ToUser(m.To).Emit("dm", map[string]string{"from": c.UserID(), "text": m.Text})
		})},
		"online": {Handler: func(c *realtime.Ctx) error {
			users, err := c.In().Users(c.Context())
			if err != nil {
				return err
			}
			return c.Ack(users)
		}},
	}})
	srv := realtimetest.NewServer(t, mux)

	// u1 also tries the query string to claim u2.
	spoofer := realtimetest.MustDial(t, srv.URL("/")+"?userId=u2", bearer("t-u1"))
	u2 := realtimetest.MustDial(t, srv.URL("/"), bearer("t-u2"))
	u3 := realtimetest.MustDial(t, srv.URL("/"), bearer("t-u3"))

	got, err := spoofer.Request(testkit.Context(t), "whoami", map[string]string{"userId": "u2"})
	if err != nil || string(got) != `"u1"` {
		t.Fatalf("whoami = %s, %v; want u1", got, err)
	}
	if _, err := spoofer.Request(testkit.Context(t), "say", map[string]string{"userId": "u2", "text": "hello"}); err != nil {
		t.Fatal(err)
	}
	m, err := u2.Wait(testkit.Context(t), "said")
	if err != nil {
		t.Fatal(err)
	}
	var said map[string]string
	_ = m.Decode(&said)
	if said["from"] != "u1" {
		t.Fatalf("message attributed to %q, want u1", said["from"])
	}
	// Listed as u1: presence has u1, u2, u3 and each exactly once.
	got, err = u3.Request(testkit.Context(t), "online", nil)
	if err != nil || string(got) != `["u1","u2","u3"]` {
		t.Fatalf("online = %s, %v", got, err)
	}
	// Addressed as u1: ToUser("u2") reaches u2 only, ToUser("u1") reaches the spoofer.
	if _, err := u3.Request(testkit.Context(t), "dm", map[string]string{"to": "u2", "text": "for u2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := u2.Wait(testkit.Context(t), "dm"); err != nil {
		t.Fatalf("u2 did not get its dm: %v", err)
	}
	if _, err := u3.Request(testkit.Context(t), "dm", map[string]string{"to": "u1", "text": "for u1"}); err != nil {
		t.Fatal(err)
	}
	m, err = spoofer.Wait(testkit.Context(t), "dm")
	if err != nil {
		t.Fatal(err)
	}
	var dm map[string]string
	_ = m.Decode(&dm)
	if dm["text"] != "for u1" {
		t.Fatalf("spoofer received %q: a message for u2 reached it", dm["text"])
	}
	if n := spoofer.Count("dm"); n != 0 {
		t.Fatalf("spoofer has %d more dm(s); messages for u2 reached it", n)
	}
	// No credential at all: refused.
	anon := realtimetest.MustDial(t, srv.URL("/")+"?userId=u2", &realtimetest.Options{SkipConnected: true})
	if code, _ := anon.WaitClosed(testkit.Context(t)); code != realtime.CloseUnauthorized {
		t.Fatalf("anonymous socket closed with %d, want 4401", code)
	}
}

// Acceptance test 4 of the seed checklist, with socket.io-client: a client
// authenticated as u1 that claims u2 in its payload and its query acts, is
// listed and is addressed as u1.
func TestSocketIOAuthHookPreventsIdentitySpoofing(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	url := srv.Server.URL
	realU2 := siotest.Start(t, "listen", map[string]any{"url": url, "token": "t-u2", "event": "dm", "expect": 1})
	spoofer := siotest.Start(t, "listen", map[string]any{"url": url, "token": "t-u1", "query": map[string]string{"userId": "u2"},
		"event": "dm", "expect": 0, "waitMs": 1500})
	for _, c := range []*siotest.Client{realU2, spoofer} {
		if l := c.Next(t); l["step"] != "ready" {
			t.Fatalf("listener: %s", siotest.JSON(l))
		}
	}
	lines := siotest.Run(t, "send", map[string]any{"url": url, "token": "t-u1", "query": map[string]string{"userId": "u2"},
		"events": [][]any{
			{"whoami", map[string]string{"userId": "u2"}},
			{"online", map[string]string{"userId": "u2"}},
			{"dm", map[string]string{"to": "u2", "text": "for u2", "userId": "u2"}},
		}})
	answers := siotest.Step(t, lines, "answers")["value"].([]any)
	if answers[0] != "u1" {
		t.Fatalf("whoami = %v", answers[0])
	}
	if got := siotest.JSON(answers[1]); got != `["u1","u2"]` {
		t.Fatalf("online = %s", got)
	}
	got := siotest.JSON(realU2.Next(t)["value"])
	if got != `[{"from":"u1","text":"for u2"}]` {
		t.Fatalf("u2 got %s", got)
	}
	if got := siotest.JSON(spoofer.Next(t)["value"]); got != "[]" {
		t.Fatalf("a message for u2 reached the client claiming u2: %s", got)
	}
}

type incr struct {
	By   int `json:"by"`
	Meta struct {
		Note string `json:"note"`
	} `json:"meta"`
}

func (i incr) Validate() error {
	return validation.ValidateStruct(&i,
		validation.Field(&i.By, validation.Required, validation.Min(1), validation.Max(10)),
		validation.Field(&i.Meta, validation.By(func(any) error {
			return validation.ValidateStruct(&i.Meta, validation.Field(&i.Meta.Note, validation.Length(0, 5)))
		})),
	)
}

// Acceptance test 5 of the seed checklist: an invalid schema gives
// __loly:error and the handler does not run.
func TestInvalidSchemaGetsAnErrorAndSkipsTheHandler(t *testing.T) {
	var runs atomic.Int64
	mux := realtime.New(realtime.Config{})
	mux.Use(middleware.RequestID, middleware.Recoverer, middleware.Validate)
	mux.Route(realtime.Route{Events: map[string]realtime.Event{
		"increment": {Schema: realtime.JSON[incr](), Handler: realtime.Typed(func(c *realtime.Ctx, in incr) error {
			return c.Ack(runs.Add(int64(in.By)))
		})},
	}})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	for _, bad := range []string{
		`{"event":"increment","data":{"by":11}}`,
		`{"event":"increment","data":{"by":"two"}}`,
		`{"event":"increment"}`,
		`{"event":"increment","data":{"by":2,"meta":{"note":"far too long"}}}`,
	} {
		if err := cl.SendRaw([]byte(bad)); err != nil {
			t.Fatal(err)
		}
		e, err := cl.WaitError(testkit.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		if e.Code != realtime.CodeBadPayload || e.Event != "increment" || e.Details == nil {
			t.Fatalf("%s: error %+v", bad, e)
		}
		t.Logf("%s -> %s %v", bad, e.Message, e.Details)
	}
	// Field details name the field, nested ones nest.
	_ = cl.SendRaw([]byte(`{"event":"increment","data":{"by":0,"meta":{"note":"far too long"}}}`))
	e, _ := cl.WaitError(testkit.Context(t))
	details, _ := json.Marshal(e.Details)
	if !strings.Contains(string(details), `"by":`) || !strings.Contains(string(details), `"meta":{"note":`) {
		t.Fatalf("details = %s, want by and meta.note", details)
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("the handler ran for invalid payloads (counter %d)", n)
	}
	got, err := cl.Request(testkit.Context(t), "increment", map[string]int{"by": 3})
	if err != nil || string(got) != "3" {
		t.Fatalf("valid event: %s, %v", got, err)
	}
}

// Acceptance test 5 of the seed checklist, with socket.io-client: an
// invalid payload gives __loly:error BAD_PAYLOAD with field details and the
// handler never runs.
func TestSocketIOInvalidSchemaGetsAnErrorAndSkipsTheHandler(t *testing.T) {
	var runs atomic.Int64
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.RequestID, middleware.Validate)
	mux.Route(realtime.Route{Namespace: "/chat", Events: map[string]realtime.Event{
		"join": {Schema: realtime.JSON[joinReq](), Handler: realtime.Typed(func(c *realtime.Ctx, j joinReq) error {
			runs.Add(1)
			return c.Ack(map[string]any{"joined": j.Room})
		})},
	}})
	srv := realtimetest.NewServer(t, mux)
	lines := siotest.Run(t, "invalid", map[string]any{"url": srv.Server.URL})
	e := siotest.Step(t, lines, "event")["value"].(map[string]any)
	if e["code"] != realtime.CodeBadPayload || siotest.JSON(e["details"]) != `{"room":"cannot be blank"}` {
		t.Fatalf("__loly:error = %s", siotest.JSON(e))
	}
	if got := siotest.JSON(siotest.Step(t, lines, "valid")["value"]); got != `{"joined":"ok"}` {
		t.Fatalf("valid join = %s", got)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want once (for the valid event only)", n)
	}
}

// Acceptance test 6 of the seed checklist: the rate limit blocks spam, per
// socket and per event, without touching other sockets, and lets events
// through again once the bucket refills.
func TestRateLimitBlocksSpam(t *testing.T) {
	mux := realtime.New(realtime.Config{})
	mux.Use(middleware.RequestID, middleware.RateLimit(middleware.RateLimitOpts{}))
	ok := func(c *realtime.Ctx) error { return nil }
	mux.Route(realtime.Route{Events: map[string]realtime.Event{
		"ping":  {Handler: ok},
		"heavy": {Handler: ok, RateLimit: &realtime.Rate{EventsPerSecond: 5, Burst: 10}},
	}})
	srv := realtimetest.NewServer(t, mux)
	spammer := realtimetest.MustDial(t, srv.URL("/"), nil)
	bystander := realtimetest.MustDial(t, srv.URL("/"), nil)

	// 200 events in one frame arrive faster than any refill.
	burst := func(cl *realtimetest.Client, event string, n int) (passed, limited int, retry float64) {
		t.Helper()
		var frame bytes.Buffer
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = cl.NextAckID()
			fmt.Fprintf(&frame, `{"event":%q,"id":%d}`+"\n", event, ids[i])
		}
		if err := cl.SendRaw(frame.Bytes()); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			m, err := cl.WaitAck(testkit.Context(t), id)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case m.Error == nil:
				passed++
			case m.Error.Code == realtime.CodeRateLimit:
				limited++
				if d, ok := m.Error.Details.(map[string]any); ok {
					retry, _ = d["retryAfterMs"].(float64)
				}
			default:
				t.Fatalf("unexpected error %+v", m.Error)
			}
		}
		return
	}
	passed, limited, retry := burst(spammer, "ping", 200)
	if passed < realtime.DefaultBurst || passed > realtime.DefaultBurst+5 || limited != 200-passed {
		t.Fatalf("burst of 200: %d passed, %d limited; want about %d passed", passed, limited, realtime.DefaultBurst)
	}
	if retry <= 0 {
		t.Fatalf("RATE_LIMIT without retryAfterMs")
	}
	if n := spammer.Count(realtime.EventError); n != limited {
		t.Fatalf("%d __loly:error events for %d refusals", n, limited)
	}
	// Another socket is unaffected.
	if p, l, _ := burst(bystander, "ping", 20); p != 20 || l != 0 {
		t.Fatalf("bystander: %d passed, %d limited", p, l)
	}
	// After the refill, the spammer passes again.
	time.Sleep(100 * time.Millisecond)
	if _, err := spammer.Request(testkit.Context(t), "ping", nil); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// The per-event limit binds before the per-socket one where it is lower.
	if p, _, _ := burst(bystander, "heavy", 30); p < 10 || p > 11 {
		t.Fatalf("heavy: %d passed, want the event's burst of 10", p)
	}
}

// Acceptance test 6 of the seed checklist, with socket.io-client: a burst
// passes up to the bucket and the rest gets RATE_LIMIT with retryAfterMs.
func TestSocketIORateLimitBlocksSpam(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, &realtime.Rate{EventsPerSecond: 1, Burst: 10}))
	l := siotest.Step(t, siotest.Run(t, "ratelimit", map[string]any{"url": srv.Server.URL, "token": "t-u1", "n": 40}), "burst")
	passed, limited := l["passed"].(float64), l["limited"].(float64)
	if passed < 10 || passed > 12 || passed+limited != 40 {
		t.Fatalf("burst of 40 with a bucket of 10: %s", siotest.JSON(l))
	}
	sample := l["sample"].(map[string]any)["error"].(map[string]any)
	if sample["details"].(map[string]any)["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("RATE_LIMIT without retryAfterMs: %s", siotest.JSON(sample))
	}
}

// Acceptance test 7 of the seed checklist: logs include namespace,
// socketId, event and requestId, and the requestId is the one in the
// client's error object.
func TestLogsCarryNamespaceSocketEventAndRequestID(t *testing.T) {
	sink := &testkit.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := realtime.New(realtime.Config{Logger: log})
	mux.Use(middleware.RequestID, middleware.Logger(log), middleware.Recoverer,
		middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
			return &realtime.User{ID: "u7"}, nil
		}), middleware.Validate, middleware.Guard, middleware.RateLimit(middleware.RateLimitOpts{}))
	mux.Route(realtime.Route{Namespace: "/chat", Events: map[string]realtime.Event{
		"send": {Schema: realtime.JSON[joinReq](), Handler: realtime.Typed(func(c *realtime.Ctx, j joinReq) error {
			c.Logger().Info("handler says hi", "room", j.Room)
			return nil
		})},
		"crash": {Handler: func(c *realtime.Ctx) error { panic("kaboom") }},
	}})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/chat"), bearer("secret-token-123"))
	if _, err := cl.Request(testkit.Context(t), "send", map[string]string{"room": "a"}); err != nil {
		t.Fatal(err)
	}
	_, badErr := cl.Request(testkit.Context(t), "send", map[string]string{"room": ""})
	_, crashErr := cl.Request(testkit.Context(t), "crash", nil)
	var bad, crash *realtime.Error
	if !errors.As(badErr, &bad) || !errors.As(crashErr, &crash) {
		t.Fatalf("errors: %v, %v", badErr, crashErr)
	}
	if strings.Contains(crash.Message, "kaboom") {
		t.Fatalf("panic text reached the client: %q", crash.Message)
	}
	cl.Close()
	srv.Close()

	lines := sink.JSONLines(t)
	byRequest := map[string][]map[string]any{}
	for _, l := range lines {
		if strings.Contains(fmt.Sprint(l), "secret-token-123") {
			t.Fatalf("credential logged: %v", l)
		}
		if _, ok := l["socketId"]; !ok {
			continue // mux-level lines, not about one event
		}
		for _, k := range []string{"namespace", "socketId", "event", "requestId"} {
			if v, _ := l[k].(string); v == "" && !(k == "event" && l["msg"] == "") {
				t.Fatalf("log line without %s: %v", k, l)
			}
		}
		if l["namespace"] != "/chat" || l["userId"] != "u7" {
			t.Fatalf("log line with wrong namespace/user: %v", l)
		}
		id := l["requestId"].(string)
		byRequest[id] = append(byRequest[id], l)
	}
	for _, want := range []struct {
		e       *realtime.Error
		outcome string
	}{{bad, realtime.CodeBadPayload}, {crash, realtime.CodeInternal}} {
		ls := byRequest[want.e.RequestID]
		if len(ls) == 0 {
			t.Fatalf("no log line has the requestId %q the client got", want.e.RequestID)
		}
		found := false
		for _, l := range ls {
			if l["outcome"] == want.outcome {
				found = true
			}
		}
		if !found {
			t.Fatalf("lines for %s lack outcome %s: %v", want.e.RequestID, want.outcome, ls)
		}
	}
	var sawHandler, sawConnect, sawDisconnect bool
	for _, l := range lines {
		switch l["msg"] {
		case "handler says hi":
			sawHandler = l["requestId"] != "" && l["event"] == "send"
		case "connect":
			sawConnect = l["event"] == realtime.EventConnect
		case "disconnect":
			sawDisconnect = l["reason"] != nil
		}
	}
	if !sawHandler || !sawConnect || !sawDisconnect {
		t.Fatalf("handler line %v, connect line %v, disconnect line %v", sawHandler, sawConnect, sawDisconnect)
	}
}

// Acceptance test 7 of the seed checklist, with socket.io-client: every log
// line of an event has namespace, socketId, event and requestId, the one the
// client got.
func TestSocketIOLogsCarryNamespaceSocketEventAndRequestID(t *testing.T) {
	sink := &testkit.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(sink, nil))
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil, middleware.Logger(log)))
	lines := siotest.Run(t, "invalid", map[string]any{"url": srv.Server.URL, "token": "t-secret-9"})
	e := siotest.Step(t, lines, "event")["value"].(map[string]any)
	srv.Close()
	found := false
	for _, l := range sink.JSONLines(t) {
		if strings.Contains(siotest.JSON(l), "t-secret-9") {
			t.Fatalf("credential in a log line: %v", l)
		}
		for _, k := range []string{"namespace", "socketId", "event", "requestId"} {
			if v, _ := l[k].(string); v == "" {
				t.Fatalf("log line without %s: %v", k, l)
			}
		}
		if l["requestId"] == e["requestId"] && l["outcome"] == realtime.CodeBadPayload && l["namespace"] == "/chat" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no log line with the client's requestId %v", e["requestId"])
	}
}
