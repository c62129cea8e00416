package engineio

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/testkit"
)

// The clients of these tests speak Engine.IO v4 by hand, over raw HTTP
// requests and raw WebSocket frames, the way the protocol's own test suite
// does, so that they can break every rule on purpose.

// echo is the Handler of the test server, the reference suite's: every
// message goes back to its session as it came.
type echo struct {
	mu     sync.Mutex
	opened int
	closed map[string]link.Closed
}

func (e *echo) Open(*Session) {
	e.mu.Lock()
	e.opened++
	e.mu.Unlock()
}

func (e *echo) Message(s *Session, data []byte, binary bool) {
	if binary {
		s.Send(data, true)
		return
	}
	s.Send(append([]byte{typeMessage}, data...), false)
	if string(data) == "close" { // the server closes the session, after the echo
		s.Close(1000, "asked to")
	}
}

func (e *echo) Closed(s *Session, why link.Closed) {
	e.mu.Lock()
	e.closed[s.ID()] = why
	e.mu.Unlock()
}

// testServer is an Engine.IO server on loopback.
type testServer struct {
	*httptest.Server
	eio *Server
	h   *echo
}

func newTestServer(t *testing.T, interval, timeout time.Duration, opts ...func(*Config)) *testServer {
	t.Helper()
	h := &echo{closed: make(map[string]link.Closed)}
	cfg := Config{
		PingInterval: interval, PingTimeout: timeout, MaxPayload: 1e6, QueueBytes: 1 << 20,
		WriteTimeout: 10 * time.Second, HandshakeTimeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
		Admit:  func(*http.Request) (func(), int, string) { return func() {}, 0, "" },
	}
	for _, o := range opts {
		o(&cfg)
	}
	eio := NewServer(cfg, h)
	srv := &testServer{Server: httptest.NewServer(eio), eio: eio, h: h}
	t.Cleanup(func() {
		eio.Shutdown(1001, "test over")
		srv.CloseClientConnections()
		srv.Close()
		// Every session has ended and its handler has heard so.
		testkit.Eventually(t, "every session to end", func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return len(h.closed) == h.opened
		})
	})
	return srv
}

func (srv *testServer) url(query string) string { return srv.URL + "/engine.io/?" + query }

// why returns how the handler was told a session ended, once it was.
func (srv *testServer) why(t *testing.T, sid string) link.Closed {
	t.Helper()
	var why link.Closed
	testkit.Eventually(t, "the handler to hear that the session ended", func() bool {
		srv.h.mu.Lock()
		defer srv.h.mu.Unlock()
		w, ok := srv.h.closed[sid]
		why = w
		return ok
	})
	return why
}

// response is an HTTP answer, read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one HTTP request with its own client (its own connection).
func do(t *testing.T, method, url, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// wantError checks an Engine.IO error answer: HTTP 400 and its JSON object.
func wantError(t *testing.T, r response, code int) {
	t.Helper()
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if r.status != http.StatusBadRequest || json.Unmarshal([]byte(r.body), &e) != nil || e.Code != code || e.Message != codeMessages[code] {
		t.Fatalf("got %d %q, want 400 with Engine.IO error %d", r.status, r.body, code)
	}
}

// openPolling opens a session over polling and returns its id.
func openPolling(t *testing.T, srv *testServer) string {
	t.Helper()
	r := do(t, http.MethodGet, srv.url("EIO=4&transport=polling"), "")
	var open struct {
		SID string `json:"sid"`
	}
	if r.status != http.StatusOK || !strings.HasPrefix(r.body, "0") || json.Unmarshal([]byte(r.body[1:]), &open) != nil {
		t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	return open.SID
}

func (srv *testServer) pollURL(sid string) string {
	return srv.url("EIO=4&transport=polling&sid=" + sid)
}

func (srv *testServer) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/engine.io/?" + query
}

// wsClient is a WebSocket client that reads and writes frames itself.
type wsClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// frame is one message the server sent: a text or binary message, or the
// close frame (op 8) with its code.
type frame struct {
	op   byte
	data []byte
	code uint16
}

func (f frame) String() string {
	if f.op == 8 {
		return fmt.Sprintf("close %d %q", f.code, f.data)
	}
	return fmt.Sprintf("op %d %q", f.op, f.data)
}

// dialWS opens a WebSocket to url and checks the server switched protocols.
func dialWS(t *testing.T, url string) *wsClient {
	t.Helper()
	c, status, err := tryWS(url)
	if err != nil || status != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket to %s: %d %v", url, status, err)
	}
	t.Cleanup(func() { _ = c.nc.Close() })
	c.t = t
	return c
}

// tryWS sends a WebSocket handshake to url and returns the connection and
// the status of the answer, its whole body read when it is not a 101.
func tryWS(url string) (*wsClient, int, error) {
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "ws://"), "/")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		return nil, 0, err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", path, host, key)
	c := &wsClient{nc: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		_ = nc.Close()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.ReadAll(resp.Body)
		_ = nc.Close()
		return nil, resp.StatusCode, nil
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		_ = nc.Close()
		return nil, 0, errors.New("bad Sec-WebSocket-Accept")
	}
	_ = nc.SetDeadline(time.Time{})
	return c, resp.StatusCode, nil
}

// send writes one masked frame.
func (c *wsClient) send(op byte, payload []byte) {
	c.t.Helper()
	head := []byte{0x80 | op, 0x80}
	switch n := len(payload); {
	case n < 126:
		head[1] |= byte(n)
	case n <= 0xFFFF:
		head[1] |= 126
		head = binary.BigEndian.AppendUint16(head, uint16(n))
	default:
		head[1] |= 127
		head = binary.BigEndian.AppendUint64(head, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	out := append(head, mask[:]...)
	for i, b := range payload {
		out = append(out, b^mask[i%4])
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(out); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) text(s string) { c.send(0x1, []byte(s)) }

// read returns the next message or close frame, answering pings; err is
// set when the connection ended without a close frame, or within passed.
func (c *wsClient) read(within time.Duration) (frame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	var msg []byte
	var msgOp byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return frame{}, err
		}
		op, n := h[0]&0x0F, uint64(h[1]&0x7F)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return frame{}, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return frame{}, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return frame{}, err
		}
		switch op {
		case 0x8:
			f := frame{op: 8}
			if len(payload) >= 2 {
				f.code, f.data = binary.BigEndian.Uint16(payload), payload[2:]
			}
			return f, nil
		case 0x9:
			c.send(0xA, payload)
			continue
		case 0xA:
			continue
		case 0x1, 0x2:
			msgOp = op
		}
		msg = append(msg, payload...)
		if h[0]&0x80 != 0 {
			return frame{op: msgOp, data: msg}, nil
		}
	}
}

// next returns the next message, failing the test on a close or an error.
func (c *wsClient) next() frame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	if err != nil || f.op == 8 {
		c.t.Fatalf("want a message, got %v (%v)", f, err)
	}
	return f
}

// nextText returns the next text message.
func (c *wsClient) nextText() string {
	c.t.Helper()
	f := c.next()
	if f.op != 0x1 {
		c.t.Fatalf("want a text message, got %v", f)
	}
	return string(f.data)
}

// closed waits for the server to end the connection: a close frame, or the
// connection closed. It fails the test if the server sends a message first.
func (c *wsClient) closed() frame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Fatal("the server did not close the connection")
	case err == nil && f.op != 8:
		c.t.Fatalf("want the connection closed, got %v", f)
	}
	return f
}

// openWS opens a session over WebSocket and returns it with its id.
func openWS(t *testing.T, srv *testServer) (*wsClient, string) {
	t.Helper()
	c := dialWS(t, srv.wsURL("EIO=4&transport=websocket"))
	open := c.nextText()
	var v struct {
		SID string `json:"sid"`
	}
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &v) != nil || v.SID == "" {
		t.Fatalf("open packet %q", open)
	}
	return c, v.SID
}

// rawRequest writes a request on its own TCP connection and reads the
// answer; the connection is returned open for the caller to check what the
// server does with it next.
func rawRequest(t *testing.T, addr, request string) (*http.Response, string, net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", request, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body of the answer to %q: %v", request, err)
	}
	return resp, string(body), nc, br
}

// serverCloses reports whether the server closes the connection (EOF)
// rather than leaving it open for another request.
func serverCloses(nc net.Conn, br *bufio.Reader) bool {
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := br.ReadByte()
	return errors.Is(err, io.EOF)
}
