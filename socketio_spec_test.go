package realtime_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	bmemory "github.com/lolyjs/realtime/broadcast/memory"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
	smemory "github.com/lolyjs/realtime/store/memory"
)

// The cases of the Socket.IO v5 protocol's test suite
// (github.com/socketio/socket.io-protocol, test-suite/) against a mux that
// does what the suite's reference server does, over raw WebSocket frames
// and raw polling requests; then the rules this server adds, and where it
// deliberately differs (docs/socketio.md).

// anyArgs turns a Ctx's arguments into values for EmitArgs and AckArgs.
func anyArgs(args []json.RawMessage) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = json.RawMessage(a)
	}
	return out
}

// specMux is the suite's reference server: "auth" echoes the connect
// payload, "message" comes back as "message-back" with the same
// arguments, "message-with-ack" is acked with them; and a few events of
// this server's own.
func specMux(cfg realtime.Config) *realtime.Mux {
	mux := realtime.New(quiet(cfg))
	auth := func(c *realtime.Ctx) error {
		data := c.Data()
		if data == nil {
			data = json.RawMessage("{}")
		}
		return c.Reply("auth", data)
	}
	mux.OnConnect(auth)
	mux.On("message", func(c *realtime.Ctx) error {
		return c.Socket().EmitArgs("message-back", anyArgs(c.Args())...)
	})
	mux.On("message-with-ack", func(c *realtime.Ctx) error { return c.AckArgs(anyArgs(c.Args())...) })
	mux.On("upload", realtime.Typed(func(c *realtime.Ctx, u upload) error {
		var viaArgs realtime.Binary
		if len(c.Args()) == 1 {
			var raw struct {
				File json.RawMessage `json:"file"`
			}
			_ = json.Unmarshal(c.Args()[0], &raw)
			_ = json.Unmarshal(raw.File, &viaArgs)
		}
		return c.Ack(map[string]any{"name": u.Name, "file": ints(u.File), "raw": ints(u.Raw), "args": ints(viaArgs)})
	}))
	mux.Namespace("/custom", func(m *realtime.Mux) {
		m.OnConnect(auth)
		m.On("kick-me", func(c *realtime.Ctx) error {
			c.Socket().Close(realtime.CloseNormal, "kicked")
			return nil
		})
	})
	return mux
}

// upload is a file a client sends: bytes as Binary and as []byte.
type upload struct {
	Name string          `json:"name"`
	File realtime.Binary `json:"file"`
	Raw  []byte          `json:"raw"`
}

// ints shows bytes as numbers, so that a JSON answer tells them from text.
func ints(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

// sioWS is a Socket.IO client over a raw WebSocket: it sends what the test
// says and reads every Engine.IO message the server sends.
type sioWS struct{ *rawConn }

// dialSIO opens an Engine.IO session over WebSocket and reads its open
// packet.
func dialSIO(t *testing.T, srv *realtimetest.Server) *sioWS {
	t.Helper()
	nc, err := realtimetest.DialRaw(testkit.Context(t), eioURL(srv, "ws", "websocket", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &sioWS{&rawConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}}
	if open := c.nextText(); !strings.HasPrefix(open, `0{"sid":`) {
		t.Fatalf("open packet %q", open)
	}
	return c
}

// message returns the next message (text or binary) or the close frame,
// answering WebSocket and Engine.IO pings.
func (c *sioWS) message(within time.Duration) (byte, []byte, *closeFrame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	for {
		_, op, payload, err := c.readFrame()
		switch {
		case err != nil:
			return 0, nil, nil, err
		case op == opPing:
			_ = c.writeFrame(true, opPong, payload, true, 0)
		case op == opClose:
			cf := &closeFrame{}
			if len(payload) >= 2 {
				cf.code, cf.reason = uint16(payload[0])<<8|uint16(payload[1]), string(payload[2:])
			}
			return op, nil, cf, nil
		case op == opText && string(payload) == "2":
			_ = c.text("3")
		case op == opText || op == opBinary:
			return op, payload, nil, nil
		}
	}
}

func (c *sioWS) nextText() string {
	c.t.Helper()
	op, data, cf, err := c.message(10 * time.Second)
	if err != nil || cf != nil || op != opText {
		c.t.Fatalf("want a text message, got op %d %q (close %v, %v)", op, data, cf, err)
	}
	return string(data)
}

func (c *sioWS) nextBinary() []byte {
	c.t.Helper()
	op, data, cf, err := c.message(10 * time.Second)
	if err != nil || cf != nil || op != opBinary {
		c.t.Fatalf("want a binary message, got op %d %q (close %v, %v)", op, data, cf, err)
	}
	return data
}

func (c *sioWS) send(pkt string) {
	c.t.Helper()
	if err := c.text(pkt); err != nil {
		c.t.Fatal(err)
	}
}

func (c *sioWS) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.writeFrame(true, opBinary, b, true, 0); err != nil {
		c.t.Fatal(err)
	}
}

// join connects to a namespace with an optional payload and returns the
// socket id, after the suite server's auth event.
func (c *sioWS) join(ns, payload string) string {
	c.t.Helper()
	prefix := "40"
	if ns != "/" {
		prefix += ns + ","
	}
	c.send(prefix + payload)
	got := c.nextText()
	var v map[string]string
	if !strings.HasPrefix(got, prefix) || json.Unmarshal([]byte(got[len(prefix):]), &v) != nil || len(v) != 1 || v["sid"] == "" {
		c.t.Fatalf("CONNECT answered %q", got)
	}
	auth := payload
	if auth == "" {
		auth = "{}"
	}
	want := "42" + strings.TrimPrefix(prefix, "40") + `["auth",` + auth + "]"
	if got := c.nextText(); got != want {
		c.t.Fatalf("auth event %q, want %q", got, want)
	}
	return v["sid"]
}

// closed waits for the server to end the session: a close frame (returned)
// or the connection closed. A message first fails the test.
func (c *sioWS) closed() *closeFrame {
	c.t.Helper()
	op, data, cf, err := c.message(10 * time.Second)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Fatal("the server did not close the session")
	case err == nil && cf == nil:
		c.t.Fatalf("want the session closed, got op %d %q", op, data)
	}
	return cf
}

// specServer serves specMux with a short connect timeout.
func specServer(t *testing.T) *realtimetest.Server {
	return realtimetest.NewServer(t, specMux(realtime.Config{SocketIOConnectTimeout: 300 * time.Millisecond}))
}

func TestSocketIOSpecConnect(t *testing.T) {
	srv := specServer(t)
	t.Run("main namespace", func(t *testing.T) { dialSIO(t, srv).join("/", "") })
	t.Run("main namespace with a payload", func(t *testing.T) { dialSIO(t, srv).join("/", `{"token":"123"}`) })
	t.Run("custom namespace", func(t *testing.T) { dialSIO(t, srv).join("/custom", "") })
	t.Run("custom namespace with a payload", func(t *testing.T) { dialSIO(t, srv).join("/custom", `{"token":"abc"}`) })
	t.Run("unknown namespace", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.send("40/random")
		if got := c.nextText(); got != `44/random,{"message":"Invalid namespace"}` {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("invalid handshake", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.send("4abc")
		c.closed()
	})
}

// A session that joins no namespace within SocketIOConnectTimeout is
// closed; one that joined is not, however long it stays.
func TestSocketIOConnectTimeout(t *testing.T) {
	srv := specServer(t)
	t.Run("no CONNECT", func(t *testing.T) {
		t.Parallel()
		if cf := dialSIO(t, srv).closed(); cf == nil || cf.code != realtime.ClosePolicy {
			t.Fatalf("closed with %v, want %d", cf, realtime.ClosePolicy)
		}
	})
	t.Run("no CONNECT, polling", func(t *testing.T) {
		t.Parallel()
		p := openPolling(t, srv, nil)
		// The poll gets the close packet, whether it waited for it or came
		// after it; then the session is gone.
		if got := p.poll(); len(got) != 1 || got[0] != "1" {
			t.Fatalf("poll: %q, want the close packet", got)
		}
		resp, err := p.hc.Get(p.url())
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("poll after the close: %d", resp.StatusCode)
		}
	})
	t.Run("a refused CONNECT does not count", func(t *testing.T) {
		t.Parallel()
		c := dialSIO(t, srv)
		c.send("40/random")
		_ = c.nextText()
		c.closed()
	})
	t.Run("joined", func(t *testing.T) {
		t.Parallel()
		c := dialSIO(t, srv)
		c.join("/", "")
		time.Sleep(900 * time.Millisecond) // three timeouts
		c.send(`42["message","still here"]`)
		if got := c.nextText(); got != `42["message-back","still here"]` {
			t.Fatalf("got %q", got)
		}
	})
}

func TestSocketIOSpecDisconnect(t *testing.T) {
	srv := specServer(t)
	t.Run("from the main namespace, then back", func(t *testing.T) {
		c := dialSIO(t, srv)
		first := c.join("/", "")
		c.send("41")
		// The session stays: the client may join again.
		if again := c.join("/", ""); again == first {
			t.Fatal("the new socket has the old one's id")
		}
	})
	t.Run("from a custom namespace", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.join("/", "")
		c.join("/custom", "")
		c.send("41/custom,")
		c.send(`42["message","message to main namespace"]`)
		if got := c.nextText(); got != `42["message-back","message to main namespace"]` {
			t.Fatalf("got %q", got)
		}
	})
}

func TestSocketIOSpecMessage(t *testing.T) {
	srv := specServer(t)
	t.Run("plain text with several arguments", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.join("/", "")
		c.send(`42["message",1,"2",{"3":[true]}]`)
		if got := c.nextText(); got != `42["message-back",1,"2",{"3":[true]}]` {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("binary attachments", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.join("/", "")
		c.send(`452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		c.sendBinary([]byte{1, 2, 3})
		c.sendBinary([]byte{4, 5, 6})
		if got := c.nextText(); got != `452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
			t.Fatalf("got %q", got)
		}
		for _, want := range []string{"\x01\x02\x03", "\x04\x05\x06"} {
			if got := c.nextBinary(); string(got) != want {
				t.Fatalf("attachment %v, want %v", got, []byte(want))
			}
		}
	})
	t.Run("plain text with an ack", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.join("/", "")
		c.send(`42456["message-with-ack",1,"2",{"3":[false]}]`)
		if got := c.nextText(); got != `43456[1,"2",{"3":[false]}]` {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("binary attachments with an ack", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.join("/", "")
		c.send(`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		c.sendBinary([]byte{1, 2, 3})
		c.sendBinary([]byte{4, 5, 6})
		if got := c.nextText(); got != `462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
			t.Fatalf("got %q", got)
		}
		for _, want := range []string{"\x01\x02\x03", "\x04\x05\x06"} {
			if got := c.nextBinary(); string(got) != want {
				t.Fatalf("attachment %v, want %v", got, []byte(want))
			}
		}
	})
	t.Run("binary attachments over polling", func(t *testing.T) {
		p := openPolling(t, srv, nil)
		p.post("40")
		p.pollUntil("40")
		p.post(`451-7["message-with-ack",{"a":{"_placeholder":true,"num":0},"b":"text"}]`, "bAQID")
		got := p.poll()
		if len(got) < 2 || got[0] != `461-7[{"a":{"_placeholder":true,"num":0},"b":"text"}]` || got[1] != "bAQID" {
			t.Fatalf("got %q", got)
		}
	})
}

// Binary reaches handlers as bytes: Typed and Bind decode it into Binary
// and []byte fields, and Ctx.Args shows it as a mark a Binary decodes.
func TestSocketIOBinaryReachesHandlersAsBytes(t *testing.T) {
	srv := specServer(t)
	const want = `{"args":[0,1,255],"file":[0,1,255],"name":"f","raw":[0,1,255]}`
	t.Run("websocket", func(t *testing.T) {
		c := dialSIO(t, srv)
		c.join("/", "")
		c.send(`451-3["upload",{"name":"f","file":{"_placeholder":true,"num":0},"raw":{"num":0,"_placeholder":true}}]`)
		c.sendBinary([]byte{0, 1, 255})
		if got := c.nextText(); got != "433["+want+"]" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("polling", func(t *testing.T) {
		p := openPolling(t, srv, nil)
		p.post("40")
		p.pollUntil("40")
		p.post(`451-3["upload",{"name":"f","file":{"_placeholder":true,"num":0},"raw":{"_placeholder":true,"num":0}}]`, "bAAH/")
		if got := p.pollUntil("43"); got != "433["+want+"]" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("native base64 strings", func(t *testing.T) {
		cl := dial(t, srv, "/")
		got, err := cl.Request(testkit.Context(t), "upload", map[string]string{"name": "f", "file": "AAH/", "raw": "AAH/"})
		if err != nil || string(got) != `{"args":[0,1,255],"file":[0,1,255],"name":"f","raw":[0,1,255]}` {
			t.Fatalf("got %s, %v", got, err)
		}
	})
}

// What breaks the Socket.IO protocol closes the session, as the reference
// server does.
func TestSocketIOSpecInvalidFormatClosesTheSession(t *testing.T) {
	srv := specServer(t)
	for name, packets := range map[string][]string{
		"unknown packet type":                      {"4abc"},
		"event payload not an array":               {"42{}"},
		"invalid ack id":                           {`42abc["message-with-ack",1,"2",{"3":[false]}]`},
		"event without payload":                    {"42"},
		"empty event array":                        {"42[]"},
		"event name an object":                     {`42[{}]`},
		"ack payload not an array":                 {`43{}`},
		"connect payload not an object":            {`40/custom,"token"`},
		"disconnect with a payload":                {`41{}`},
		"connect error from the client":            {`44{"message":"x"}`},
		"connect to a namespace already joined":    {"40"},
		"event for a namespace never joined":       {`42/custom,["message","x"]`},
		"too many attachments":                     {`4511-["message"]`},
		"text while attachments are due":           {`451-["message",{"_placeholder":true,"num":0}]`, `42["message","x"]`},
		"placeholder naming no attachment":         {`451-["message",{"_placeholder":true,"num":1}]`, "\x00bin"},
		"binary attachment nobody announced":       {"\x00bin"},
		"binary attachment after the last one due": {`451-["message",{"_placeholder":true,"num":0}]`, "\x00a", "\x00b"},
	} {
		t.Run(name, func(t *testing.T) {
			c := dialSIO(t, srv)
			c.join("/", "")
			for _, pkt := range packets {
				if strings.HasPrefix(pkt, "\x00") {
					c.sendBinary([]byte(pkt[1:]))
				} else {
					c.send(pkt)
				}
			}
			if name == "binary attachment after the last one due" {
				if got := c.nextText(); !strings.HasPrefix(got, `452-["message-back"`) && !strings.HasPrefix(got, `451-["message-back"`) {
					t.Fatalf("the complete packet: %q", got)
				}
				_ = c.nextBinary()
			}
			if cf := c.closed(); cf == nil || cf.code != realtime.ClosePolicy {
				t.Fatalf("closed with %v, want %d", cf, realtime.ClosePolicy)
			}
		})
	}
}

// Where this server deliberately differs: event names it refuses get a
// BAD_MESSAGE, events without a handler UNKNOWN_EVENT, and a packet for a
// namespace the server just left is dropped; the session stays each time.
func TestSocketIODeviationsKeepTheSession(t *testing.T) {
	srv := specServer(t)
	c := dialSIO(t, srv)
	c.join("/", "")
	c.join("/custom", "")
	for _, tc := range []struct {
		send, code, event string
		ack               bool
	}{
		{`42["__loly:error",1]`, realtime.CodeBadMessage, "__loly:error", false},
		{`42["$connect"]`, realtime.CodeBadMessage, "$connect", false},
		{`42["` + strings.Repeat("x", 200) + `"]`, realtime.CodeBadMessage, "", false},
		{`421["no-such-event"]`, realtime.CodeUnknownEvent, "no-such-event", true},
		{`42[1,"numeric name"]`, realtime.CodeUnknownEvent, "1", false},
	} {
		c.send(tc.send)
		got := c.nextText()
		var args []json.RawMessage
		var e realtime.Error
		if !strings.HasPrefix(got, "42") || json.Unmarshal([]byte(got[2:]), &args) != nil || len(args) != 2 ||
			string(args[0]) != `"__loly:error"` || json.Unmarshal(args[1], &e) != nil || e.Code != tc.code || e.Event != tc.event {
			t.Fatalf("%s: got %q, want a %s for event %q", tc.send, got, tc.code, tc.event)
		}
		if tc.ack {
			if ack := c.nextText(); !strings.HasPrefix(ack, `431[{"error":{"code":"UNKNOWN_EVENT"`) {
				t.Fatalf("error ack %q", ack)
			}
		}
	}
	// Kicked from /custom, the client's packets there in flight are dropped.
	c.send(`42/custom,["kick-me"]`)
	if got := c.nextText(); got != "41/custom," {
		t.Fatalf("got %q, want the namespace disconnect", got)
	}
	c.send(`42/custom,["message","late"]`)
	c.send(`42["message","main"]`)
	if got := c.nextText(); got != `42["message-back","main"]` {
		t.Fatalf("got %q", got)
	}
}

// Several arguments reach a native client as one value, the way a handler
// reads Ctx.Data: one argument itself, several as an array, none as no
// data; and Ctx.Args of a native event is its data.
func TestArgsForNativeClients(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("emit", func(c *realtime.Ctx) error {
		var n int
		if err := c.Bind(&n); err != nil {
			return err
		}
		args := []any{1, "two", map[string]int{"three": 3}}[:n]
		return c.Socket().EmitArgs("args", args...)
	})
	mux.On("ack", func(c *realtime.Ctx) error {
		var n int
		_ = c.Bind(&n)
		return c.AckArgs([]any{true, nil, realtime.Binary{1}}[:n]...)
	})
	mux.On("args", func(c *realtime.Ctx) error { return c.Ack(c.Args()) })
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	for n, want := range []string{"", "1", `[1,"two"]`, `[1,"two",{"three":3}]`} {
		if _, err := cl.Request(testkit.Context(t), "emit", n); err != nil {
			t.Fatal(err)
		}
		m, err := cl.Wait(testkit.Context(t), "args")
		if err != nil || string(m.Data) != want {
			t.Fatalf("EmitArgs with %d arguments: data %s, want %q (%v)", n, m.Data, want, err)
		}
	}
	for n, want := range []string{"", "true", "[true,null]", `[true,null,"AQ=="]`} {
		got, err := cl.Request(testkit.Context(t), "ack", n)
		if err != nil || string(got) != want {
			t.Fatalf("AckArgs with %d arguments: data %s, want %q (%v)", n, got, want, err)
		}
	}
	if got, err := cl.Request(testkit.Context(t), "args", map[string]int{"a": 1}); err != nil || string(got) != `[{"a":1}]` {
		t.Fatalf("Args of a native event: %s, %v", got, err)
	}
	if got, err := cl.Request(testkit.Context(t), "args", nil); err != nil || string(got) != `null` {
		t.Fatalf("Args of a native event without data: %s, %v", got, err)
	}
}

// requestOn sends raw HTTP on its own connection and reads the answer,
// leaving the connection for the caller.
func requestOn(t *testing.T, srv *realtimetest.Server, raw string) (*http.Response, string, net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("answer to %q: %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body), nc, br
}

const wsHeaders = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

// The edge tells native and Engine.IO requests apart by their query, and
// answers every refusal with a complete HTTP response: a plain request
// keeps its connection for the next one, a refused WebSocket closes it.
func TestRoutingByPathAndQuery(t *testing.T) {
	srv := specServer(t)
	for _, tc := range []struct {
		name, request string
		status        int
		upgrade       bool
	}{
		{"polling without EIO", "GET /wss/?transport=polling", 400, false},
		{"polling with EIO=3", "GET /wss/?EIO=3&transport=polling", 400, false},
		{"Engine.IO without transport", "GET /wss/?EIO=4", 400, false},
		{"Engine.IO below the root", "GET /wss/custom/?EIO=4&transport=polling", 404, false},
		{"plain GET of a native URL", "GET /wss/custom", 426, false},
		{"plain GET of an unknown namespace", "GET /wss/nope", 404, false},
		{"WebSocket without EIO", "GET /wss/?transport=websocket", 400, true},
		{"WebSocket with EIO=abc", "GET /wss/?EIO=abc&transport=websocket", 400, true},
		{"WebSocket without transport", "GET /wss/?EIO=4", 400, true},
		{"WebSocket below the root", "GET /wss/custom?EIO=4&transport=websocket", 404, true},
		{"native WebSocket of an unknown namespace", "GET /wss/nope", 404, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.request + " HTTP/1.1\r\nHost: x\r\n"
			if tc.upgrade {
				req += wsHeaders
			}
			resp, body, nc, br := requestOn(t, srv, req+"\r\n")
			if resp.StatusCode != tc.status || resp.ContentLength != int64(len(body)) || body == "" {
				t.Fatalf("got %d %q (length %d), want %d with a body", resp.StatusCode, body, resp.ContentLength, tc.status)
			}
			if tc.upgrade {
				_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := br.ReadByte(); !resp.Close || !errors.Is(err, io.EOF) {
					t.Fatalf("a refused WebSocket must get Connection: close and a closed connection: %v, %v", resp.Header, err)
				}
				return
			}
			if resp.Close {
				t.Fatal("a refused plain request closed its connection")
			}
			_, _ = io.WriteString(nc, "GET /wss/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
			next, err := http.ReadResponse(br, nil)
			if err != nil || next.StatusCode != http.StatusOK {
				t.Fatalf("the next request on the same connection: %v, %v", next, err)
			}
			_ = next.Body.Close()
		})
	}
	t.Run("native WebSocket of another version", func(t *testing.T) {
		req := "GET /wss/custom HTTP/1.1\r\nHost: x\r\n" + strings.Replace(wsHeaders, "Version: 13", "Version: 8", 1) + "\r\n"
		resp, _, _, _ := requestOn(t, srv, req)
		if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Sec-WebSocket-Version") != "13" || !resp.Close {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("native URLs keep their own query", func(t *testing.T) {
		cl := realtimetest.MustDial(t, srv.URL("/")+"?sid=1&t=2", nil)
		if _, err := cl.Request(testkit.Context(t), "message", "x"); err != nil {
			t.Fatal(err)
		}
	})
}

// With Config.DisableSocketIO, Engine.IO requests are refused (never taken
// as native sockets) and native clients are served.
func TestDisableSocketIO(t *testing.T) {
	srv := realtimetest.NewServer(t, specMux(realtime.Config{DisableSocketIO: true}))
	for _, upgrade := range []bool{false, true} {
		req := "GET /wss/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
		if upgrade {
			req += wsHeaders
		}
		resp, _, _, _ := requestOn(t, srv, req+"\r\n")
		if resp.StatusCode != http.StatusNotFound || resp.Close != upgrade {
			t.Fatalf("Engine.IO request (upgrade %v) with Socket.IO disabled: %d %v", upgrade, resp.StatusCode, resp.Header)
		}
	}
	cl := dial(t, srv, "/")
	if _, err := cl.Request(testkit.Context(t), "message", "x"); err != nil {
		t.Fatal(err)
	}
}

// Several arguments cross the cluster as several: an EmitArgs on one
// instance reaches a Socket.IO client on another as its arguments, binary
// included, and a native client there as one array.
func TestEmitArgsAcrossInstances(t *testing.T) {
	hub, st := bmemory.NewHub(), smemory.New()
	t.Cleanup(func() { _ = st.Close() })
	newMux := func() *realtime.Mux {
		br := hub.Broker()
		t.Cleanup(func() { _ = br.Close() })
		return specMux(realtime.Config{Store: st, Broker: br, PresenceTTL: time.Minute})
	}
	muxA, muxB := newMux(), newMux()
	srvA := realtimetest.NewServer(t, muxA)
	realtimetest.NewServer(t, muxB)
	c := dialSIO(t, srvA)
	sid := c.join("/", "")
	native := dial(t, srvA, "/")
	// To one socket by id, from the other instance.
	if err := muxB.In("/").ToSocket(sid).EmitArgs("direct", 1, "two"); err != nil {
		t.Fatal(err)
	}
	if got := c.nextText(); got != `42["direct",1,"two"]` {
		t.Fatalf("Socket.IO client got %q", got)
	}
	if err := muxB.In("/").EmitArgs("spread", 1, "two", realtime.Binary{9}); err != nil {
		t.Fatal(err)
	}
	if got := c.nextText(); got != `451-["spread",1,"two",{"_placeholder":true,"num":0}]` {
		t.Fatalf("Socket.IO client got %q", got)
	}
	if got := c.nextBinary(); string(got) != "\x09" {
		t.Fatalf("attachment %v", got)
	}
	m, err := native.Wait(testkit.Context(t), "spread")
	if err != nil || string(m.Data) != `[1,"two","CQ=="]` {
		t.Fatalf("native client got %s, %v", m.Data, err)
	}
}

// A Binary decodes the forms bytes take in a Ctx's data and arguments: the
// mark of a Socket.IO attachment, a base64 string, null.
func TestBinaryUnmarshalJSON(t *testing.T) {
	for in, want := range map[string]string{`{"_lolybin":"AQI="}`: "\x01\x02", ` "AQI=" `: "\x01\x02", `null`: ""} {
		var b realtime.Binary
		if err := json.Unmarshal([]byte(in), &b); err != nil || string(b) != want {
			t.Errorf("%s: %v %v", in, []byte(b), err)
		}
	}
	for _, bad := range []string{`{"x":"AQ=="}`, `1`, `"!!"`, `{"_lolybin":1}`} {
		var v struct {
			F realtime.Binary `json:"f"`
		}
		var te *json.UnmarshalTypeError
		if err := json.Unmarshal([]byte(`{"f":`+bad+`}`), &v); !errors.As(err, &te) || te.Field != "f" {
			t.Errorf("%s: %v, want a type error naming the field", bad, err)
		}
	}
}

// Several arguments to a room with history: a Socket.IO client gets them
// followed by the offset, its last argument; a native client one array.
func TestEmitArgsToHistoryRoom(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Route(realtime.Route{Namespace: "/chat", History: realtime.History{Size: 10}, Events: map[string]realtime.Event{
		"join": {Handler: func(c *realtime.Ctx) error { return c.Join("r") }},
		"say":  {Handler: func(c *realtime.Ctx) error { return c.ToRoom("r").EmitArgs("said", 1, realtime.Binary{9}) }},
	}})
	srv := realtimetest.NewServer(t, mux)
	native := dial(t, srv, "/chat")
	if _, err := native.Request(testkit.Context(t), "join", nil); err != nil {
		t.Fatal(err)
	}
	c := dialSIO(t, srv)
	c.send("40/chat,")
	if got := c.nextText(); !strings.HasPrefix(got, `40/chat,{"sid":`) {
		t.Fatalf("CONNECT answered %q", got)
	}
	c.send(`42/chat,1["join"]`)
	if got := c.nextText(); got != "43/chat,1[]" {
		t.Fatalf("join ack %q", got)
	}
	c.send(`42/chat,["say"]`)
	got := c.nextText()
	head, offset, ok := strings.Cut(got, `{"_placeholder":true,"num":0},"`)
	if !ok || head != `451-/chat,["said",1,` || !strings.HasSuffix(offset, `"]`) || len(offset) < 4 {
		t.Fatalf("got %q, want the arguments then the offset", got)
	}
	if b := c.nextBinary(); string(b) != "\x09" {
		t.Fatalf("attachment %v", b)
	}
	m, err := native.Wait(testkit.Context(t), "said")
	if err != nil || string(m.Data) != `[1,"CQ=="]` {
		t.Fatalf("native client got %s, %v", m.Data, err)
	}
}
