// The tests of the Socket.IO transport drive the real socket.io-client 4.x
// (testdata/socketio) through internal/siotest.

package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

type sioRoom struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

func (r sioRoom) Validate() error {
	if r.Room == "" {
		return realtime.PayloadError(errors.New("room is required"))
	}
	return nil
}

type sioFile struct {
	Name string          `json:"name"`
	File realtime.Binary `json:"file"`
}

// sioMux is the server of the Socket.IO tests: the full pipeline, a /chat
// and an /admin namespace, token auth from the Socket.IO auth payload.
func sioMux(t *testing.T, cfg realtime.Config, limits *realtime.Rate, extra ...func(realtime.Handler) realtime.Handler) *realtime.Mux {
	mux := realtime.New(quiet(cfg))
	mux.Use(extra...)
	mux.Use(middleware.RequestID, middleware.Recoverer,
		middleware.AuthWithOpts(middleware.AuthOpts{Required: true, Hook: func(c *realtime.Ctx) (*realtime.User, error) {
			tok := middleware.HandshakeToken(c, "")
			if !strings.HasPrefix(tok, "t-") {
				return nil, errors.New("bad token")
			}
			return &realtime.User{ID: strings.TrimPrefix(tok, "t-")}, nil
		}}),
		middleware.Validate, middleware.Guard,
		middleware.RateLimit(middleware.RateLimitOpts{PerSocket: limits}))
	mux.Route(realtime.Route{Namespace: "/chat", Events: map[string]realtime.Event{
		"whoami": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.UserID()) }},
		"join": {Schema: realtime.JSON[sioRoom](), Handler: realtime.Typed(func(c *realtime.Ctx, r sioRoom) error {
			if err := c.Join(r.Room); err != nil {
				return err
			}
			return c.Ack(map[string]any{"joined": r.Room})
		})},
		"say": {Schema: realtime.JSON[sioRoom](), Handler: realtime.Typed(func(c *realtime.Ctx, r sioRoom) error {
			return c.ToRoom(r.Room).Emit("said", map[string]string{"from": c.UserID(), "text": r.Text})
		})},
		"ping": {Handler: func(c *realtime.Ctx) error { return c.Ack("pong") }},
		"online": {Handler: func(c *realtime.Ctx) error {
			users, err := c.In().Users(c.Context())
			if err != nil {
				return err
			}
			return c.Ack(users)
		}},
		"dm": {Handler: func(c *realtime.Ctx) error {
			var m struct{ To, Text string }
			if err := c.Bind(&m); err != nil {
				return err
			}
			return c.ToUser(m.To).Emit("dm", map[string]string{"from": c.UserID(), "text": m.Text})
		}},
		"echo-file": {Schema: realtime.JSON[sioFile](), Handler: realtime.Typed(func(c *realtime.Ctx, f sioFile) error {
			return c.Ack(f)
		})},
		"args": {Handler: func(c *realtime.Ctx) error {
			args := anyArgs(c.Args())
			reversed := make([]any, 0, len(args))
			for i := len(args) - 1; i >= 0; i-- {
				reversed = append(reversed, args[i])
			}
			if err := c.Socket().EmitArgs("spread", reversed...); err != nil {
				return err
			}
			return c.AckArgs(append([]any{len(args)}, args...)...)
		}},
		"data-of": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Data()) }},
		"bin": {Handler: func(c *realtime.Ctx) error {
			// The second argument is bytes, and bytes only.
			var b realtime.Binary
			if len(c.Args()) < 2 || json.Unmarshal(c.Args()[1], &b) != nil {
				return c.Error("NOT_BINARY", "the second argument is not binary", nil)
			}
			var third struct {
				Nested []byte `json:"nested"`
			}
			if err := c.BindArg(2, &third); err != nil {
				return err
			}
			args := anyArgs(c.Args())
			if err := c.Socket().EmitArgs("bin-echo", append(args, realtime.Binary(third.Nested), len(b))...); err != nil {
				return err
			}
			return c.AckArgs(args...)
		}},
		"ask-me": {Handler: func(c *realtime.Ctx) error {
			sock, data := c.Socket(), json.RawMessage(bytes.Clone(c.Data()))
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				answer, err := sock.EmitWithAck(ctx, "question", data)
				if err != nil {
					_ = sock.Emit("answered", map[string]string{"error": err.Error()})
					return
				}
				_ = sock.Emit("answered", answer)
			}()
			return nil
		}},
	}})
	mux.Route(realtime.Route{Namespace: "/admin", Events: map[string]realtime.Event{
		"where": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Namespace() + " as " + c.UserID()) }},
	}})
	return mux
}

// restartOn serves mux on addr, where a server just stopped.
func restartOn(t *testing.T, addr string, mux *realtime.Mux) *realtimetest.Server {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(mux)
	_ = hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	return &realtimetest.Server{Server: hs, Mux: mux}
}

func TestSocketIOBasicAllTransports(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	for _, tc := range []struct {
		name       string
		transports []string
		want       string
	}{
		{"default polling then upgrade", nil, "websocket"},
		{"polling only", []string{"polling"}, "polling"},
		{"websocket only", []string{"websocket"}, "websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := map[string]any{}
			if tc.transports != nil {
				client["transports"] = tc.transports
			}
			lines := siotest.Run(t, "basic", map[string]any{"url": srv.Server.URL, "token": "t-u1", "client": client})
			if got := siotest.Step(t, lines, "whoami")["value"]; got != "u1" {
				t.Fatalf("whoami = %v (a spoofed userId in the payload must not count)", got)
			}
			if got := siotest.JSON(siotest.Step(t, lines, "join")["value"]); got != `{"joined":"r1"}` {
				t.Fatalf("join ack = %s", got)
			}
			if got := siotest.JSON(siotest.Step(t, lines, "said")["value"]); got != `{"from":"u1","text":"hello"}` {
				t.Fatalf("room broadcast = %s", got)
			}
			if got := siotest.Step(t, lines, "say")["value"]; got != nil {
				t.Fatalf("auto-ack of say = %v, want no argument", got)
			}
			if got := siotest.Step(t, lines, "transport")["value"]; got != tc.want {
				t.Fatalf("transport = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestSocketIOAuthRefused(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	lines := siotest.Run(t, "refused", map[string]any{"url": srv.Server.URL})
	l := siotest.Step(t, lines, "connect_error")
	data, _ := l["data"].(map[string]any)
	if l["message"] != realtime.ErrUnauthorized.Message || data["code"] != realtime.CodeUnauthorized || data["requestId"] == "" {
		t.Fatalf("connect_error = %s", siotest.JSON(l))
	}
	if strings.Contains(siotest.JSON(l), "bad token") {
		t.Fatal("the hook's error text reached the client")
	}
}

// A refusal at connect goes through Config.ErrorHandler on both protocols:
// what it writes is the connect_error a Socket.IO client gets, and the
// __loly:error a native client gets before the close.
func TestRefusalGoesThroughTheErrorHandler(t *testing.T) {
	cfg := realtime.Config{ErrorHandler: func(c *realtime.Ctx, err error) {
		e := realtime.ErrorOf(err)
		e.Message = "rewritten: " + e.Message
		e.Details = map[string]string{"hint": "log in"}
		realtime.DefaultErrorHandler(c, e)
	}}
	srv := realtimetest.NewServer(t, sioMux(t, cfg, nil))
	lines := siotest.Run(t, "refused", map[string]any{"url": srv.Server.URL})
	l := siotest.Step(t, lines, "connect_error")
	data, _ := l["data"].(map[string]any)
	details, _ := data["details"].(map[string]any)
	want := "rewritten: " + realtime.ErrUnauthorized.Message
	if l["message"] != want || data["message"] != want || data["code"] != realtime.CodeUnauthorized || details["hint"] != "log in" {
		t.Fatalf("connect_error = %s", siotest.JSON(l))
	}

	cl, err := realtimetest.Dial(testkit.Context(t), srv.URL("/chat"), &realtimetest.Options{SkipConnected: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e := waitError(t, cl)
	if e.Code != realtime.CodeUnauthorized || e.Message != want {
		t.Fatalf("native refusal: %+v", e)
	}
}

func TestSocketIOInvalidPayload(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	lines := siotest.Run(t, "invalid", map[string]any{"url": srv.Server.URL, "token": "t-u1"})
	ackErr := siotest.Step(t, lines, "ack")["value"].(map[string]any)["error"].(map[string]any)
	evErr := siotest.Step(t, lines, "event")["value"].(map[string]any)
	for _, e := range []map[string]any{ackErr, evErr} {
		if e["code"] != realtime.CodeBadPayload || e["event"] != "join" || e["requestId"] == "" {
			t.Fatalf("error = %s", siotest.JSON(e))
		}
	}
	if ackErr["requestId"] != evErr["requestId"] {
		t.Fatalf("ack and event carry different request ids: %s / %s", siotest.JSON(ackErr), siotest.JSON(evErr))
	}
	if got := siotest.JSON(siotest.Step(t, lines, "valid")["value"]); got != `{"joined":"ok"}` {
		t.Fatalf("the next valid event: %s", got)
	}
}

func TestSocketIOTwoNamespacesOneConnection(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	lines := siotest.Run(t, "namespaces", map[string]any{"url": srv.Server.URL, "token": "t-u7"})
	if siotest.Step(t, lines, "same-engine")["value"] != true {
		t.Fatal("the two namespaces did not share one connection")
	}
	if got := siotest.Step(t, lines, "chat")["value"]; got != "u7" {
		t.Fatalf("chat whoami = %v", got)
	}
	if got := siotest.Step(t, lines, "admin")["value"]; got != "/admin as u7" {
		t.Fatalf("admin where = %v", got)
	}
	if got := siotest.Step(t, lines, "nope")["value"]; got != "Invalid namespace" {
		t.Fatalf("unknown namespace = %v", got)
	}
}

func TestSocketIOBinaryRoundTrip(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	for _, transports := range [][]string{{"polling"}, {"websocket"}} {
		l := siotest.Step(t, siotest.Run(t, "binary", map[string]any{"url": srv.Server.URL, "token": "t-u1",
			"client": map[string]any{"transports": transports}}), "echo")
		if l["name"] != "f.bin" || l["isBinary"] != true || siotest.JSON(l["bytes"]) != "[0,1,2,250,255,10,13,30]" {
			t.Fatalf("%v: binary echo = %s", transports, siotest.JSON(l))
		}
	}
}

// Several arguments in both directions, with socket.io-client, over each
// transport: the client's reach the handler as they came (Ctx.Args), the
// handler's emit and ack reach the client's listener and callback as
// several, and Ctx.Data makes one array of several.
func TestSocketIOClientSeveralArguments(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	for _, transports := range [][]string{{"polling"}, {"websocket"}} {
		lines := siotest.Run(t, "args", map[string]any{"url": srv.Server.URL, "token": "t-u1",
			"client": map[string]any{"transports": transports}})
		for step, want := range map[string]string{
			"ack":    `[4,1,"two",{"three":3},[4]]`,
			"spread": `[[4],{"three":3},"two",1]`,
			"data":   `[1,"two"]`,
		} {
			if got := siotest.JSON(siotest.Step(t, lines, step)["value"]); got != want {
				t.Fatalf("%v: %s = %s, want %s", transports, step, got, want)
			}
		}
	}
}

// Binary in both directions, with socket.io-client, over each transport:
// the client's Buffer and ArrayBuffer reach the handler as bytes, and the
// handler's echo of them, and bytes of its own, reach the client as binary.
func TestSocketIOClientBinaryBothWays(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	const bytes = `{"bin":[0,1,2,250,255,10,13,30]}`
	const sent = `"label",` + bytes + `,{"list":[` + bytes + `],"nested":{"bin":[7,8]}}`
	for _, transports := range [][]string{{"polling"}, {"websocket"}} {
		lines := siotest.Run(t, "binaryargs", map[string]any{"url": srv.Server.URL, "token": "t-u1",
			"client": map[string]any{"transports": transports}})
		if got := siotest.JSON(siotest.Step(t, lines, "ack")["value"]); got != "["+sent+"]" {
			t.Fatalf("%v: ack = %s", transports, got)
		}
		if got := siotest.JSON(siotest.Step(t, lines, "echo")["value"]); got != "["+sent+`,{"bin":[7,8]},8]` {
			t.Fatalf("%v: echo = %s", transports, got)
		}
	}
}

func TestSocketIOServerEmitWaitsForAck(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	l := siotest.Step(t, siotest.Run(t, "serverack", map[string]any{"url": srv.Server.URL, "token": "t-u1"}), "result")
	if got := siotest.JSON(l["value"]); got != `{"answer":42}` {
		t.Fatalf("the client's ack reached the server as %s", got)
	}
}

// The same mux serves native clients and Socket.IO clients on one port,
// and they share rooms.
func TestSocketIOAndNativeShareRooms(t *testing.T) {
	srv := realtimetest.NewServer(t, sioMux(t, realtime.Config{}, nil))
	native := realtimetest.MustDial(t, srv.URL("/chat"), bearer("t-n1"))
	if _, err := native.Request(testkit.Context(t), "join", map[string]string{"room": "r1"}); err != nil {
		t.Fatal(err)
	}
	lines := siotest.Run(t, "basic", map[string]any{"url": srv.Server.URL, "token": "t-u1"})
	_ = siotest.Step(t, lines, "said")
	m, err := native.Wait(testkit.Context(t), "said")
	if err != nil || !strings.Contains(string(m.Data), `"from":"u1"`) {
		t.Fatalf("native member got %s, %v", m.Data, err)
	}
}

func TestSocketIOReconnectAfterRestart(t *testing.T) {
	mux := sioMux(t, realtime.Config{}, nil)
	srv := realtimetest.NewServer(t, mux)
	addr := srv.Listener.Addr().String()
	nc := siotest.Start(t, "reconnect", map[string]any{"url": srv.Server.URL, "token": "t-u1"})
	_ = nc.Next(t) // connected
	srv.Close()    // graceful shutdown: the client sees its transport close
	if l := nc.Next(t); l["step"] != "disconnected" {
		t.Fatalf("want disconnected, got %s", siotest.JSON(l))
	}
	// A new server on the same address.
	srv2 := restartOn(t, addr, sioMux(t, realtime.Config{}, nil))
	defer srv2.Close()
	l := nc.Next(t)
	if l["step"] != "reconnected" || l["value"] != "u1" {
		t.Fatalf("after restart: %s", siotest.JSON(l))
	}
}
