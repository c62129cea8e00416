package engineio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/testkit"
)

// The cases of the Engine.IO v4 protocol's test suite
// (github.com/socketio/engine.io-protocol, test-suite/), and the rules of
// its specification they check, against this server with an echo handler.
// Servers that need no heartbeat ping every 10 s, so that no ping ends a
// long-poll a test relies on.

const quietPing = 10 * time.Second

func TestSpecHandshakePolling(t *testing.T) {
	srv := newTestServer(t, 300*time.Millisecond, 200*time.Millisecond)
	r := do(t, http.MethodGet, srv.url("EIO=4&transport=polling"), "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.body, "0") {
		t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	var open map[string]any
	if err := json.Unmarshal([]byte(r.body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	if len(open) != 5 || open["sid"] == "" || fmt.Sprint(open["upgrades"]) != "[websocket]" ||
		open["pingInterval"] != 300.0 || open["pingTimeout"] != 200.0 || open["maxPayload"] != 1e6 {
		t.Fatalf("open packet %s", r.body)
	}
}

func TestSpecHandshakeWebSocket(t *testing.T) {
	srv := newTestServer(t, 300*time.Millisecond, 200*time.Millisecond)
	c := dialWS(t, srv.wsURL("EIO=4&transport=websocket"))
	open := c.nextText()
	var v map[string]any
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &v) != nil ||
		len(v) != 5 || fmt.Sprint(v["upgrades"]) != "[]" || v["pingInterval"] != 300.0 {
		t.Fatalf("open packet %q", open)
	}
}

// A request the server cannot serve gets HTTP 400 with the Engine.IO error
// object, and the connection stays usable for the next request.
func TestSpecHandshakeRefusals(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	for _, tc := range []struct {
		method, query string
		code          int
	}{
		{"GET", "transport=polling", codeUnsupportedProtocol},
		{"GET", "EIO=abc&transport=polling", codeUnsupportedProtocol},
		{"GET", "EIO=3&transport=polling", codeUnsupportedProtocol},
		{"GET", "EIO=4", codeUnknownTransport},
		{"GET", "EIO=4&transport=abc", codeUnknownTransport},
		{"POST", "EIO=4&transport=polling", codeBadHandshakeMethod},
		{"PUT", "EIO=4&transport=polling", codeBadHandshakeMethod},
		{"GET", "EIO=4&transport=polling&sid=nope", codeUnknownSID},
		{"GET", "EIO=4&transport=websocket", codeBadRequest}, // no upgrade
	} {
		t.Run(tc.method+" "+tc.query, func(t *testing.T) {
			req := fmt.Sprintf("%s /engine.io/?%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", tc.method, tc.query)
			resp, body, nc, br := rawRequest(t, srv.Listener.Addr().String(), req)
			wantError(t, response{resp.StatusCode, resp.Header, body}, tc.code)
			if resp.Close || resp.ContentLength != int64(len(body)) {
				t.Fatalf("a refusal of a plain request must keep the connection: close %v, length %d for %d bytes",
					resp.Close, resp.ContentLength, len(body))
			}
			// The same connection serves the next request.
			_, _ = fmt.Fprintf(nc, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
			next, err := http.ReadResponse(br, nil)
			if err != nil || next.StatusCode != http.StatusOK {
				t.Fatalf("the next request on the connection: %v %v", next, err)
			}
			_ = next.Body.Close()
		})
	}
}

// A WebSocket handshake the server refuses gets a complete HTTP answer with
// Connection: close, and the connection closes; it is never upgraded.
func TestSpecHandshakeRefusalsWebSocket(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"transport=websocket", codeUnsupportedProtocol},
		{"EIO=abc&transport=websocket", codeUnsupportedProtocol},
		{"EIO=4", codeUnknownTransport},
		{"EIO=4&transport=abc", codeUnknownTransport},
		{"EIO=4&transport=websocket&sid=nope", codeUnknownSID},
	} {
		t.Run(tc.query, func(t *testing.T) {
			req := "GET /engine.io/?" + tc.query + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
			resp, body, nc, br := rawRequest(t, srv.Listener.Addr().String(), req)
			wantError(t, response{resp.StatusCode, resp.Header, body}, tc.code)
			if !resp.Close || resp.ContentLength != int64(len(body)) {
				t.Fatalf("want Connection: close and a Content-Length, got %v", resp.Header)
			}
			if !serverCloses(nc, br) {
				t.Fatal("the server left the connection open")
			}
		})
	}
	// A WebSocket handshake of another version is refused the same way.
	req := "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	resp, body, nc, br := rawRequest(t, srv.Listener.Addr().String(), req)
	wantError(t, response{resp.StatusCode, resp.Header, body}, codeBadRequest)
	if !resp.Close || !serverCloses(nc, br) {
		t.Fatal("a refused WebSocket handshake must close its connection")
	}
}

func TestSpecMessagePolling(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	for _, payload := range []string{"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA=="} {
		sid := openPolling(t, srv)
		if r := do(t, http.MethodPost, srv.pollURL(sid), payload); r.status != http.StatusOK || r.body != "ok" {
			t.Fatalf("post %q: %d %q", payload, r.status, r.body)
		}
		if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.status != http.StatusOK || r.body != payload {
			t.Fatalf("poll after %q: %d %q", payload, r.status, r.body)
		}
	}
}

func TestSpecMessageWebSocket(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	c, _ := openWS(t, srv)
	c.text("4hello")
	if got := c.nextText(); got != "4hello" {
		t.Fatalf("echo %q", got)
	}
	c.send(0x2, []byte{1, 2, 3, 4})
	if f := c.next(); f.op != 0x2 || string(f.data) != "\x01\x02\x03\x04" {
		t.Fatalf("binary echo %v", f)
	}
	// A "b" text packet is binary in base64, on any transport.
	c.text("bBQYH")
	if f := c.next(); f.op != 0x2 || string(f.data) != "\x05\x06\x07" {
		t.Fatalf("binary echo of a base64 packet %v", f)
	}
}

// What is not an Engine.IO packet a client may send ends the session: a
// type that does not exist, an empty packet, bad base64, and a ping (in
// v4 the server pings). Packets before it in the same payload count.
func TestSpecInvalidPacketsCloseTheSession(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	bad := []string{"abc", "7", "", "4a\x1e\x1e4b", "b!!not base64", "2", "2probe"}
	for _, payload := range bad {
		t.Run(fmt.Sprintf("polling %q", payload), func(t *testing.T) {
			sid := openPolling(t, srv)
			wantError(t, do(t, http.MethodPost, srv.pollURL(sid), payload), codeBadRequest)
			wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeUnknownSID)
			if why := srv.why(t, sid); why != (link.Closed{Code: 1008, Reason: "malformed packet", ByServer: true}) {
				t.Fatalf("the handler heard %+v", why)
			}
		})
		if strings.Contains(payload, "\x1e") {
			continue
		}
		t.Run(fmt.Sprintf("websocket %q", payload), func(t *testing.T) {
			c, sid := openWS(t, srv)
			c.text(payload)
			if f := c.closed(); f.code != 1008 {
				t.Fatalf("closed with %v, want 1008", f)
			}
			_ = srv.why(t, sid)
		})
	}
	t.Run("polling with a binary body", func(t *testing.T) {
		sid := openPolling(t, srv)
		req, _ := http.NewRequest(http.MethodPost, srv.pollURL(sid), strings.NewReader("\x01\x02"))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("binary body: %d", resp.StatusCode)
		}
		wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeUnknownSID)
	})
}

// A second poll while one waits: 400, and the session ends, the waiting
// poll with the close packet. The heartbeat is slow, so the first poll
// waits until the second arrives.
func TestSpecDuplicatePollClosesTheSession(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	sid := openPolling(t, srv)
	results := make(chan response, 2)
	for range 2 {
		go func() { results <- do(t, http.MethodGet, srv.pollURL(sid), "") }()
	}
	a, b := <-results, <-results
	if a.status != http.StatusOK {
		a, b = b, a
	}
	if a.status != http.StatusOK || a.body != "1" {
		t.Fatalf("the waiting poll got %d %q, want the close packet", a.status, a.body)
	}
	wantError(t, b, codeBadRequest)
	wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeUnknownSID)
}

// A second POST while one is being read: 400, and the session ends. The
// first POST asks for 100-continue, so it is known to be read when the
// second is sent.
func TestSpecOverlappingPostsCloseTheSession(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	sid := openPolling(t, srv)
	resp, _, nc, br := rawRequest(t, srv.Listener.Addr().String(),
		"POST /engine.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n")
	if resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %d", resp.StatusCode)
	}
	wantError(t, do(t, http.MethodPost, srv.pollURL(sid), "4second"), codeBadRequest)
	_, _ = nc.Write([]byte("4first"))
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = first.Body.Close()
	wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeUnknownSID)
}

func TestSpecHeartbeat(t *testing.T) {
	// Pings every 300 ms; the timeout is long, so that a loaded machine
	// answering late does not end the session.
	srv := newTestServer(t, 300*time.Millisecond, quietPing)
	t.Run("polling", func(t *testing.T) {
		sid := openPolling(t, srv)
		for range 3 {
			if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.status != http.StatusOK || r.body != "2" {
				t.Fatalf("poll: %d %q, want a ping", r.status, r.body)
			}
			if r := do(t, http.MethodPost, srv.pollURL(sid), "3"); r.status != http.StatusOK {
				t.Fatalf("pong: %d %q", r.status, r.body)
			}
		}
	})
	t.Run("websocket", func(t *testing.T) {
		c, _ := openWS(t, srv)
		for range 3 {
			if got := c.nextText(); got != "2" {
				t.Fatalf("got %q, want a ping", got)
			}
			c.text("3")
		}
	})
}

// A session that does not answer a ping is gone pingTimeout after it, not
// at the next ping: with pings every 2 s and a 100 ms timeout, a silent
// session is closed within 2.1 s of opening, well before the second ping.
func TestSpecPingTimeout(t *testing.T) {
	const interval, timeout = 2 * time.Second, 100 * time.Millisecond
	srv := newTestServer(t, interval, timeout)
	t.Run("polling", func(t *testing.T) {
		t.Parallel()
		sid := openPolling(t, srv)
		time.Sleep(interval + timeout + interval*7/10)
		wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeUnknownSID)
		if why := srv.why(t, sid); why != (link.Closed{Code: 1001, Reason: "ping timeout", ByServer: true}) {
			t.Fatalf("the handler heard %+v", why)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		t.Parallel()
		c, _ := openWS(t, srv)
		if got := c.nextText(); got != "2" {
			t.Fatalf("got %q, want a ping", got)
		}
		pinged := time.Now()
		c.closed()
		if waited := time.Since(pinged); waited > interval*3/4 {
			t.Fatalf("closed %v after the unanswered ping; want about %v, before the next ping", waited, timeout)
		}
	})
}

// The client's close packet ends the session; the poll waiting meanwhile
// ends with a noop, and the session is gone.
func TestSpecClientClose(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	t.Run("polling", func(t *testing.T) {
		sid := openPolling(t, srv)
		poll := make(chan response, 1)
		go func() { poll <- do(t, http.MethodGet, srv.pollURL(sid), "") }()
		testkit.Eventually(t, "the poll to wait", func() bool {
			s := srv.eio.session(sid)
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.polling
		})
		if r := do(t, http.MethodPost, srv.pollURL(sid), "1"); r.status != http.StatusOK || r.body != "ok" {
			t.Fatalf("close: %d %q", r.status, r.body)
		}
		if r := <-poll; r.status != http.StatusOK || r.body != "6" {
			t.Fatalf("the waiting poll got %d %q, want a noop", r.status, r.body)
		}
		wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeUnknownSID)
		if why := srv.why(t, sid); why != (link.Closed{Code: 1000, Reason: "client closed"}) {
			t.Fatalf("the handler heard %+v", why)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		c, sid := openWS(t, srv)
		c.text("1")
		c.closed()
		if why := srv.why(t, sid); why.ByServer {
			t.Fatalf("the handler heard %+v", why)
		}
	})
}

// probe opens the WebSocket of a polling session and probes it, the way
// the client starts an upgrade.
func probe(t *testing.T, srv *testServer, sid string) *wsClient {
	t.Helper()
	c := dialWS(t, srv.wsURL("EIO=4&transport=websocket&sid="+sid))
	c.text("2probe")
	if got := c.nextText(); got != "3probe" {
		t.Fatalf("probe answered %q", got)
	}
	return c
}

// upgrade takes a polling session to a WebSocket, the way the client does.
func upgrade(t *testing.T, srv *testServer, sid string) *wsClient {
	t.Helper()
	c := probe(t, srv, sid)
	if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.status != http.StatusOK || r.body != "6" {
		t.Fatalf("a poll during the upgrade got %d %q, want a noop", r.status, r.body)
	}
	c.text("5")
	// Packets on one WebSocket are handled in order: once this echo is
	// back, the upgrade is done.
	c.text("4sync")
	if got := c.nextText(); got != "4sync" {
		t.Fatalf("echo after the upgrade %q", got)
	}
	return c
}

func TestSpecUpgrade(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	t.Run("from polling to websocket", func(t *testing.T) {
		sid := openPolling(t, srv)
		do(t, http.MethodPost, srv.pollURL(sid), "4queued")
		c := probe(t, srv, sid)
		if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.status != http.StatusOK || r.body != "6" {
			t.Fatalf("a poll during the upgrade got %d %q, want a noop", r.status, r.body)
		}
		c.text("5")
		c.text("4hello")
		// What was queued for the polling transport goes first, then the rest.
		for _, want := range []string{"4queued", "4hello"} {
			if got := c.nextText(); got != want {
				t.Fatalf("after the upgrade: got %q, want %q", got, want)
			}
		}
	})
	t.Run("HTTP requests after the upgrade are refused", func(t *testing.T) {
		sid := openPolling(t, srv)
		c := upgrade(t, srv, sid)
		wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeBadRequest)
		wantError(t, do(t, http.MethodPost, srv.pollURL(sid), "4x"), codeBadRequest)
		c.text("4hello")
		if got := c.nextText(); got != "4hello" {
			t.Fatalf("echo %q", got)
		}
	})
	t.Run("a second WebSocket after the upgrade is closed", func(t *testing.T) {
		sid := openPolling(t, srv)
		c := upgrade(t, srv, sid)
		second := dialWS(t, srv.wsURL("EIO=4&transport=websocket&sid="+sid))
		if f := second.closed(); f.code != 1008 {
			t.Fatalf("second WebSocket: %v", f)
		}
		c.text("4hello")
		if got := c.nextText(); got != "4hello" {
			t.Fatalf("echo on the first WebSocket %q", got)
		}
	})
	t.Run("a second WebSocket during the upgrade is closed", func(t *testing.T) {
		sid := openPolling(t, srv)
		first := probe(t, srv, sid)
		second := dialWS(t, srv.wsURL("EIO=4&transport=websocket&sid="+sid))
		if f := second.closed(); f.code != 1008 {
			t.Fatalf("second WebSocket: %v", f)
		}
		first.text("5")
		first.text("4hello")
		if got := first.nextText(); got != "4hello" {
			t.Fatalf("echo %q", got)
		}
	})
	t.Run("a WebSocket for a WebSocket session is closed", func(t *testing.T) {
		c, sid := openWS(t, srv)
		second := dialWS(t, srv.wsURL("EIO=4&transport=websocket&sid="+sid))
		second.closed()
		wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeBadRequest)
		c.text("4still")
		if got := c.nextText(); got != "4still" {
			t.Fatalf("echo %q", got)
		}
	})
	t.Run("a probe that sends anything else is closed and polling goes on", func(t *testing.T) {
		sid := openPolling(t, srv)
		ws := dialWS(t, srv.wsURL("EIO=4&transport=websocket&sid="+sid))
		ws.text("4hello")
		if f := ws.closed(); f.code != 1008 {
			t.Fatalf("probe: %v", f)
		}
		do(t, http.MethodPost, srv.pollURL(sid), "4polling")
		if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.body != "4polling" {
			t.Fatalf("poll after the failed upgrade: %d %q", r.status, r.body)
		}
	})
}

// A session the server closes tells a polling client so: what was queued
// and the close packet go in one payload to the next poll, whenever it
// comes; then the session is gone.
func TestServerCloseReachesPolling(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	sid := openPolling(t, srv)
	if r := do(t, http.MethodPost, srv.pollURL(sid), "4close"); r.body != "ok" {
		t.Fatalf("post: %d %q", r.status, r.body)
	}
	if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.status != http.StatusOK || r.body != "4close\x1e1" {
		t.Fatalf("poll: %d %q, want the echo and the close packet", r.status, r.body)
	}
	wantError(t, do(t, http.MethodGet, srv.pollURL(sid), ""), codeUnknownSID)
	if why := srv.why(t, sid); why != (link.Closed{Code: 1000, Reason: "asked to", ByServer: true}) {
		t.Fatalf("the handler heard %+v", why)
	}
}

// A probe WebSocket that does not finish the upgrade within
// HandshakeTimeout is closed, and the session goes on polling.
func TestProbeWithoutUpgradeIsClosed(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing, func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	sid := openPolling(t, srv)
	ws := probe(t, srv, sid)
	if f := ws.closed(); f.code != 1008 {
		t.Fatalf("probe: %v", f)
	}
	do(t, http.MethodPost, srv.pollURL(sid), "4polling")
	if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.body != "4polling" {
		t.Fatalf("poll after the abandoned upgrade: %d %q", r.status, r.body)
	}
}

// A request of a session with another method than GET and POST gets 400;
// the session goes on.
func TestOtherMethodsOfASession(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	sid := openPolling(t, srv)
	wantError(t, do(t, http.MethodPut, srv.pollURL(sid), "4x"), codeBadRequest)
	do(t, http.MethodPost, srv.pollURL(sid), "4still")
	if r := do(t, http.MethodGet, srv.pollURL(sid), ""); r.body != "4still" {
		t.Fatalf("poll: %d %q", r.status, r.body)
	}
}

// A session that ends during its upgrade (after the probe, before the
// upgrade packet) closes the probe WebSocket once the client moves to it,
// with the session's close: the client, which stopped polling for the
// close packet, learns of the end at once, not by its ping timeout.
func TestSessionEndedDuringUpgradeClosesTheWebSocket(t *testing.T) {
	srv := newTestServer(t, quietPing, quietPing)
	sid := openPolling(t, srv)
	ws := probe(t, srv, sid)
	if r := do(t, http.MethodPost, srv.pollURL(sid), "4close"); r.body != "ok" {
		t.Fatalf("post: %d %q", r.status, r.body)
	}
	_ = srv.why(t, sid) // the session has ended
	ws.text("5")
	if f := ws.closed(); f.code != 1000 {
		t.Fatalf("the WebSocket the client upgraded to: %v, want closed with 1000", f)
	}
}
