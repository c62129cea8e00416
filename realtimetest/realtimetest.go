// Package realtimetest is a test client for servers built with realtime,
// in the spirit of net/http/httptest: start a server on loopback, dial it
// over a real WebSocket, emit events, make requests that wait for their ack,
// and wait for events with a timeout.
//
// A Client is safe for concurrent use. Incoming envelopes are buffered
// without limit, so a test never blocks the server by reading late.
package realtimetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime"
)

// DefaultTimeout bounds the waits of a Client when its context has no
// deadline.
const DefaultTimeout = 5 * time.Second

// Server is a realtime Mux served over loopback HTTP.
type Server struct {
	*httptest.Server
	Mux *realtime.Mux
}

// NewServer starts mux on a loopback port, mounted at the mux's Config.Path.
// It fails the test if the mux does not start. Close shuts down the mux,
// then the HTTP server.
func NewServer(tb testingTB, mux *realtime.Mux) *Server {
	tb.Helper()
	if err := mux.Start(context.Background()); err != nil {
		tb.Fatalf("realtimetest: mux did not start: %v", err)
	}
	s := &Server{Server: httptest.NewServer(mux), Mux: mux}
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the mux down (closing its sockets with 1001), then the HTTP
// server. It is safe to call more than once.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Mux.Shutdown(ctx)
	s.Server.Close()
}

// URL returns the ws:// URL of a namespace, like "/chat".
func (s *Server) URL(namespace string) string {
	return "ws" + strings.TrimPrefix(s.Server.URL, "http") + s.Mux.Config().Path + namespace
}

// testingTB is the part of testing.TB the package needs.
type testingTB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Message is one envelope received from the server: an event (Event, Data)
// or an ack (Ack, Data or Error).
type Message struct {
	Event string          `json:"event,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	Ack   int64           `json:"ack,omitempty"`
	Error *realtime.Error `json:"error,omitempty"`
	// Room and Offset are set on a message of a room with history: the
	// room it was emitted to and its position, which a client hands back
	// to recover what followed (see Options.Session).
	Room   string `json:"room,omitempty"`
	Offset string `json:"offset,omitempty"`
	// Raw is the envelope as received.
	Raw []byte `json:"-"`
	// Seq is the envelope's position among everything the client received,
	// events and acks alike, counting from 1: it tells which of two
	// envelopes arrived first.
	Seq int64 `json:"-"`
}

// Decode decodes the message's data into v.
func (m Message) Decode(v any) error { return json.Unmarshal(m.Data, v) }

// ErrorData decodes the data of a __loly:error event.
func (m Message) ErrorData() (*realtime.Error, error) {
	var e realtime.Error
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Options configure Dial.
type Options struct {
	// Header is sent with the handshake (Authorization, Cookie, Origin...).
	Header http.Header
	// SkipConnected returns from Dial without waiting for __loly:connected,
	// for tests of refused connections.
	SkipConnected bool
	// Session and Offset ask to recover the socket of a session (the
	// Client.Session of an earlier connection) from the position of the
	// last message received (its Client.LastOffset), as a reconnecting
	// client does.
	Session, Offset string
}

// Client is one test WebSocket connection.
type Client struct {
	conn *gws.Conn
	// SocketID is the id from __loly:connected.
	SocketID string
	// Namespace is the namespace from __loly:connected.
	Namespace string
	// Session, Recovered and RecoveryFailure are from __loly:connected in a
	// namespace with history: the session to recover this socket with, and
	// how the recovery this connection asked for went.
	Session         string
	Recovered       bool
	RecoveryFailure string

	nextID atomic.Int64

	mu       sync.Mutex
	cond     *sync.Cond
	seq      int64
	inbox    []Message
	acks     map[int64]Message
	closed   bool
	closeErr error
	offset   string
}

// Dial connects to url (see Server.URL) and waits for __loly:connected
// unless opts.SkipConnected. The error of a refused handshake names the
// HTTP status ("unexpected status code: 429").
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	c := &Client{acks: make(map[int64]Message)}
	c.cond = sync.NewCond(&c.mu)
	if opts.Session != "" {
		q := neturl.Values{"session": {opts.Session}, "offset": {opts.Offset}}
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + q.Encode()
	}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: url, RequestHeader: opts.Header})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c.conn = conn
	go conn.ReadLoop()
	if opts.SkipConnected {
		return c, nil
	}
	m, err := c.Wait(ctx, realtime.EventConnected)
	if err != nil {
		c.Close()
		return nil, err
	}
	var info struct {
		SocketID  string `json:"socketId"`
		Namespace string `json:"namespace"`
		Session   string `json:"session"`
		Offset    string `json:"offset"`
		Recovered bool   `json:"recovered"`
		Reason    string `json:"reason"`
	}
	_ = m.Decode(&info)
	c.SocketID, c.Namespace = info.SocketID, info.Namespace
	c.Session, c.Recovered, c.RecoveryFailure = info.Session, info.Recovered, info.Reason
	c.mu.Lock()
	if c.offset == "" {
		c.offset = info.Offset
	}
	c.mu.Unlock()
	return c, nil
}

// MustDial is Dial that fails the test on error and closes the client when
// the test ends.
func MustDial(tb testingTB, url string, opts *Options) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		tb.Fatalf("realtimetest: dial %s: %v", url, err)
	}
	tb.Cleanup(c.Close)
	return c
}

// Emit sends an event without asking for an ack.
func (c *Client) Emit(event string, data any) error {
	return c.send(event, data, 0)
}

// Request sends an event with an ack id and waits for the ack. An error ack
// is returned as the *realtime.Error it carries.
func (c *Client) Request(ctx context.Context, event string, data any) (json.RawMessage, error) {
	id := c.nextID.Add(1)
	if err := c.send(event, data, id); err != nil {
		return nil, err
	}
	m, err := c.WaitAck(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Error != nil {
		return nil, m.Error
	}
	return m.Data, nil
}

// NextAckID returns a fresh ack id, for SendRaw tests that build their own
// envelopes.
func (c *Client) NextAckID() int64 { return c.nextID.Add(1) }

func (c *Client) send(event string, data any, id int64) error {
	env := map[string]any{"event": event}
	if data != nil {
		env["data"] = data
	}
	if id > 0 {
		env["id"] = id
	}
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	return c.conn.WriteMessage(gws.OpcodeText, b)
}

// SendRaw sends a text frame as it is.
func (c *Client) SendRaw(frame []byte) error {
	return c.conn.WriteMessage(gws.OpcodeText, frame)
}

// SendBinary sends a binary frame.
func (c *Client) SendBinary(frame []byte) error {
	return c.conn.WriteMessage(gws.OpcodeBinary, frame)
}

// Wait returns the first received event with the given name that no
// earlier Wait took, waiting until one arrives, the context is done or
// DefaultTimeout passes. Events of other names stay buffered.
func (c *Client) Wait(ctx context.Context, event string) (Message, error) {
	return c.waitFor(ctx, "event "+event, func() (Message, bool) {
		for i, m := range c.inbox {
			if m.Event == event {
				c.inbox = append(c.inbox[:i], c.inbox[i+1:]...)
				return m, true
			}
		}
		return Message{}, false
	})
}

// WaitAck waits for the ack with the given id.
func (c *Client) WaitAck(ctx context.Context, id int64) (Message, error) {
	return c.waitFor(ctx, fmt.Sprintf("ack %d", id), func() (Message, bool) {
		m, ok := c.acks[id]
		if ok {
			delete(c.acks, id)
		}
		return m, ok
	})
}

// WaitError waits for the next __loly:error and decodes it.
func (c *Client) WaitError(ctx context.Context) (*realtime.Error, error) {
	m, err := c.Wait(ctx, realtime.EventError)
	if err != nil {
		return nil, err
	}
	return m.ErrorData()
}

// Events returns and removes every buffered event.
func (c *Client) Events() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.inbox
	c.inbox = nil
	return out
}

// Count returns how many buffered events have the given name.
func (c *Client) Count(event string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.inbox {
		if m.Event == event {
			n++
		}
	}
	return n
}

// ErrClosed is returned by waits on a client whose connection closed.
var ErrClosed = errors.New("realtimetest: connection closed")

func (c *Client) waitFor(ctx context.Context, what string, take func() (Message, bool)) (Message, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if m, ok := take(); ok {
			return m, nil
		}
		if c.closed {
			return Message{}, fmt.Errorf("waiting for %s: %w (%v)", what, ErrClosed, c.closeErr)
		}
		if err := ctx.Err(); err != nil {
			return Message{}, fmt.Errorf("waiting for %s: %w", what, err)
		}
		c.cond.Wait()
	}
}

// WaitClosed waits until the connection closes and returns the close code
// the server sent (0 when the connection dropped without a close frame).
func (c *Client) WaitClosed(ctx context.Context) (uint16, error) {
	_, err := c.waitFor(ctx, "close", func() (Message, bool) { return Message{}, c.closed })
	if err != nil {
		return 0, err
	}
	return c.CloseCode(), nil
}

// CloseCode returns the close code the server sent, or 0.
func (c *Client) CloseCode() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *gws.CloseError
	if errors.As(c.closeErr, &ce) {
		return ce.Code
	}
	return 0
}

// LastOffset returns the offset of the last message of a room with history
// the client received, or the position it connected at when none came:
// what it hands back to recover (Options.Offset).
func (c *Client) LastOffset() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// CloseReason returns the close reason the server sent, or "".
func (c *Client) CloseReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *gws.CloseError
	if errors.As(c.closeErr, &ce) {
		return string(ce.Reason)
	}
	return ""
}

// Closed reports whether the connection has closed.
func (c *Client) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close closes the connection with 1000 and waits briefly for it to end.
func (c *Client) Close() {
	_ = c.conn.WriteClose(1000, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = c.WaitClosed(ctx)
}

// gws.Event

// OnOpen is part of gws.Event.
func (c *Client) OnOpen(*gws.Conn) {}

// OnPing is part of gws.Event: it answers with a pong.
func (c *Client) OnPing(conn *gws.Conn, _ []byte) { _ = conn.WritePong(nil) }

// OnPong is part of gws.Event.
func (c *Client) OnPong(*gws.Conn, []byte) {}

// OnClose is part of gws.Event.
func (c *Client) OnClose(_ *gws.Conn, err error) {
	c.mu.Lock()
	c.closed = true
	c.closeErr = err
	c.cond.Broadcast()
	c.mu.Unlock()
}

// OnMessage is part of gws.Event: it splits the frame and buffers each
// envelope.
func (c *Client) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	lines := strings.Split(string(msg.Bytes()), "\n")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, line := range lines {
		if line == "" {
			continue
		}
		var m Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			m = Message{Event: "__invalid"}
		}
		m.Raw = []byte(line)
		c.seq++
		m.Seq = c.seq
		if m.Offset != "" {
			c.offset = m.Offset
		}
		if m.Event == "" && m.Ack > 0 {
			c.acks[m.Ack] = m
		} else {
			c.inbox = append(c.inbox, m)
		}
	}
	c.cond.Broadcast()
}
