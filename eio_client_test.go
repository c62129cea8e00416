package realtime_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// Clients of the Engine.IO v4 / Socket.IO v5 wire, written against the
// specification, for tests that need a Socket.IO client to misbehave (stop
// polling, stop reading) or to count every packet it gets.

// eioURL is the Engine.IO endpoint of a test server over a transport, with
// extra query parameters.
func eioURL(srv *realtimetest.Server, scheme, transport, extra string) string {
	base := strings.TrimPrefix(srv.Server.URL, "http")
	u := scheme + base + srv.Mux.Config().Path + "/?EIO=4&transport=" + transport
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// sioWSMember is a Socket.IO client over WebSocket that joins the root
// namespace, answers pings and counts the "m" events it gets, checking that
// their seq fields arrive in order.
type sioWSMember struct {
	gws.BuiltinEventHandler
	conn      *gws.Conn
	received  atomic.Int64
	outOfSeq  atomic.Int64
	connected chan struct{}
	closed    chan struct{}
	once      sync.Once
	connOnce  sync.Once
}

func dialSIOMember(t *testing.T, srv *realtimetest.Server, header http.Header) *sioWSMember {
	t.Helper()
	m := &sioWSMember{connected: make(chan struct{}), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(m, &gws.ClientOption{Addr: eioURL(srv, "ws", "websocket", ""), RequestHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	m.conn = conn
	go conn.ReadLoop()
	select {
	case <-m.connected:
	case <-time.After(10 * time.Second):
		t.Fatal("Socket.IO member did not connect")
	}
	t.Cleanup(func() {
		_ = conn.WriteClose(1000, nil)
		select {
		case <-m.closed:
		case <-time.After(2 * time.Second):
		}
	})
	return m
}

func (m *sioWSMember) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	s := msg.Data.String()
	switch {
	case strings.HasPrefix(s, "0{"): // Engine.IO open: join the root namespace
		_ = c.WriteString("40")
	case strings.HasPrefix(s, "40"):
		m.connOnce.Do(func() { close(m.connected) })
	case s == "2":
		_ = c.WriteString("3")
	case strings.HasPrefix(s, `42["m",`):
		var args []json.RawMessage
		if json.Unmarshal([]byte(s[2:]), &args) != nil || len(args) != 2 {
			m.outOfSeq.Add(1)
			return
		}
		var body struct {
			Seq int64 `json:"seq"`
		}
		if json.Unmarshal(args[1], &body) != nil || body.Seq != m.received.Load() {
			m.outOfSeq.Add(1)
		}
		m.received.Add(1)
	}
}

func (m *sioWSMember) OnClose(*gws.Conn, error) { m.once.Do(func() { close(m.closed) }) }

// stalledSIOWebSocket opens a Socket.IO session over a WebSocket, joins the
// root namespace, and then never reads again: the kernel buffers fill and
// the server's queue for it grows.
func stalledSIOWebSocket(t *testing.T, srv *realtimetest.Server, header http.Header) net.Conn {
	t.Helper()
	nc, err := realtimetest.DialRaw(testkit.Context(t), eioURL(srv, "ws", "websocket", ""), header)
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	t.Cleanup(func() { _ = nc.Close() })
	if err := realtimetest.WriteText(nc, []byte("40")); err != nil {
		t.Fatal(err)
	}
	return nc
}

// eioPolling is a Socket.IO client over HTTP long-polling, driven one request
// at a time by the test.
type eioPolling struct {
	t    *testing.T
	base string
	sid  string
	hc   *http.Client
}

// openPolling does the Engine.IO handshake over polling.
func openPolling(t *testing.T, srv *realtimetest.Server, header http.Header) *eioPolling {
	t.Helper()
	p := &eioPolling{t: t, base: eioURL(srv, "http", "polling", ""), hc: &http.Client{Timeout: 30 * time.Second}}
	body := p.do(http.MethodGet, p.base, "", header)
	if !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake answered %q", body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil || open.SID == "" {
		t.Fatalf("open packet %q: %v", body, err)
	}
	p.sid = open.SID
	return p
}

func (p *eioPolling) url() string { return p.base + "&sid=" + p.sid }

func (p *eioPolling) do(method, url, body string, header http.Header) string {
	p.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(bufio.NewReader(resp.Body))
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return string(b)
}

// post sends packets, separated as a polling payload.
func (p *eioPolling) post(packets ...string) {
	p.t.Helper()
	if got := p.do(http.MethodPost, p.url(), strings.Join(packets, "\x1e"), nil); got != "ok" {
		p.t.Fatalf("post answered %q", got)
	}
}

// poll waits for the next payload and returns its packets.
func (p *eioPolling) poll() []string {
	p.t.Helper()
	return strings.Split(p.do(http.MethodGet, p.url(), "", nil), "\x1e")
}

// pollUntil polls until a packet with the prefix arrives, answering pings.
func (p *eioPolling) pollUntil(prefix string) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, pkt := range p.poll() {
			if pkt == "2" {
				p.post("3")
			}
			if strings.HasPrefix(pkt, prefix) {
				return pkt
			}
		}
	}
	p.t.Fatalf("no packet starting with %q", prefix)
	return ""
}

func (p *eioPolling) String() string { return fmt.Sprintf("polling session %s", p.sid) }
