// Package client is the load generator's side of the wire: one WebSocket
// client (on gws) that speaks just enough of each server's protocol for the
// workloads — the native loly.v1 envelopes, the bare gws reference's
// one-letter commands, centrifuge's JSON protocol and Socket.IO 4 over
// Engine.IO 4 — and that counts what it receives without decoding it: every
// broadcast payload carries "ts":<unix nanos>, so a delivery is found by
// scanning for that key, whatever the framing around it.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Protocol names a server kind and the protocol its clients speak.
type Protocol string

// The protocols of the servers under test.
const (
	Realtime   Protocol = "realtime"
	GWS        Protocol = "gws"
	Centrifuge Protocol = "centrifuge"
	SocketIO   Protocol = "socketio"
)

// EchoText is the text field of every echo request.
const EchoText = "hello, world"

// BroadcastText is the text field of every broadcast.
const BroadcastText = "a fanout message of a typical chat size, with some words in it"

// URL returns the WebSocket URL of a server of protocol p at addr, for a
// client authenticating as user.
func URL(p Protocol, addr, user string) string {
	switch p {
	case Realtime:
		return "ws://" + addr + "/wss/bench?token=" + user
	case Centrifuge:
		return "ws://" + addr + "/connection/websocket?token=" + user
	case SocketIO:
		return "ws://" + addr + "/socket.io/?EIO=4&transport=websocket"
	}
	return "ws://" + addr + "/ws"
}

// Conn is one client connection. Its methods may be called from any
// goroutine; the echo and receive paths run on its read goroutine.
type Conn struct {
	p    Protocol
	user string
	ws   *gws.Conn

	ready     chan struct{}
	readyOnce sync.Once
	closed    chan struct{}
	closeOnce sync.Once
	nextID    atomic.Int64

	waitMu  sync.Mutex
	waiters map[int64]chan struct{}

	// Receiving broadcasts: Delivered counts payloads; when recording, the
	// latency of each (now - its ts) is appended to lat. lat is written by
	// the read goroutine only and read after Delivered says all arrived.
	Delivered atomic.Int64
	recording atomic.Bool
	lat       []int64

	// Frames counts the frames received.
	Frames atomic.Int64

	// LastAt is when the last broadcast payload arrived, in Unix nanos.
	LastAt atomic.Int64

	// Errors counts error replies and error events received.
	Errors atomic.Int64

	echo atomic.Pointer[echoLoop]
	pub  []byte
}

// Dial connects as user and waits for the protocol's handshake to complete.
func Dial(ctx context.Context, p Protocol, addr, user string) (*Conn, error) {
	c := &Conn{p: p, user: user, ready: make(chan struct{}), closed: make(chan struct{}), waiters: make(map[int64]chan struct{})}
	c.nextID.Store(1) // centrifuge's connect command takes id 1
	ws, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: URL(p, addr, user), HandshakeTimeout: 10 * time.Second})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c.ws = ws
	go ws.ReadLoop()
	switch p {
	case GWS:
		c.markReady()
	case Centrifuge:
		if err := c.write([]byte(`{"id":1,"connect":{}}`)); err != nil {
			c.Close()
			return nil, err
		}
	}
	select {
	case <-c.ready:
		return c, nil
	case <-c.closed:
		return nil, fmt.Errorf("%s: closed during the handshake", p)
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("%s: handshake: %w", p, ctx.Err())
	}
}

// Close closes the connection.
func (c *Conn) Close() {
	if c.ws != nil {
		_ = c.ws.WriteClose(1000, nil)
		_ = c.ws.NetConn().Close()
	}
}

func (c *Conn) markReady()  { c.readyOnce.Do(func() { close(c.ready) }) }
func (c *Conn) markClosed() { c.closeOnce.Do(func() { close(c.closed) }) }

func (c *Conn) write(b []byte) error { return c.ws.WriteMessage(gws.OpcodeText, b) }

// Join puts the connection in room and waits for the server to confirm.
func (c *Conn) Join(ctx context.Context, room string) error {
	id := c.nextID.Add(1)
	wait := make(chan struct{})
	c.waitMu.Lock()
	c.waiters[id] = wait
	c.waitMu.Unlock()
	var b []byte
	switch c.p {
	case Realtime:
		b = fmt.Appendf(nil, `{"event":"join","id":%d,"data":{"room":%q}}`, id, room)
	case Centrifuge:
		b = fmt.Appendf(nil, `{"id":%d,"subscribe":{"channel":%q}}`, id, room)
	case SocketIO:
		b = fmt.Appendf(nil, `42%d["join",%q]`, id, room)
	default:
		b = fmt.Appendf(nil, "J%d %s", id, room)
	}
	if err := c.write(b); err != nil {
		return err
	}
	select {
	case <-wait:
		return nil
	case <-c.closed:
		return errors.New("closed while joining")
	case <-ctx.Done():
		return fmt.Errorf("join: %w", ctx.Err())
	}
}

// Publish asks the server to broadcast one message to room, stamped with
// the current time. It does not wait for anything.
func (c *Conn) Publish(room string, seq int64) error {
	b := c.pub[:0]
	ts := time.Now().UnixNano()
	switch c.p {
	case Realtime:
		b = append(b, `{"event":"bcast","data":`...)
		b = appendPayload(b, room, seq, ts)
		b = append(b, '}')
	case Centrifuge:
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, c.nextID.Add(1), 10)
		b = append(b, `,"publish":{"channel":"`...)
		b = append(b, room...)
		b = append(b, `","data":`...)
		b = appendPayload(b, room, seq, ts)
		b = append(b, "}}"...)
	case SocketIO:
		b = append(b, `42["bcast",`...)
		b = appendPayload(b, room, seq, ts)
		b = append(b, ']')
	default:
		b = append(b, 'B')
		b = append(b, room...)
		b = append(b, ' ')
		b = appendPayload(b, room, seq, ts)
	}
	c.pub = b
	return c.write(b)
}

func appendPayload(b []byte, room string, seq, ts int64) []byte {
	b = append(b, `{"room":"`...)
	b = append(b, room...)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"text":"`+BroadcastText+`"}`...)
	return b
}

// Record turns latency recording of received broadcasts on or off.
func (c *Conn) Record(on bool) { c.recording.Store(on) }

// Latencies returns the recorded latencies and forgets them. Call it only
// once the deliveries it should cover were counted.
func (c *Conn) Latencies() []int64 {
	l := c.lat
	c.lat = nil
	return l
}

// ---- gws.Event ----

// OnOpen implements gws.Event.
func (c *Conn) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event.
func (c *Conn) OnClose(*gws.Conn, error) { c.markClosed() }

// OnPing implements gws.Event.
func (c *Conn) OnPing(ws *gws.Conn, p []byte) { _ = ws.WritePong(p) }

// OnPong implements gws.Event.
func (c *Conn) OnPong(*gws.Conn, []byte) {}

// OnMessage implements gws.Event.
func (c *Conn) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.Frames.Add(1)
	b := m.Bytes()
	now := time.Now().UnixNano()
	switch c.p {
	case Realtime:
		c.onRealtime(b, now)
	case Centrifuge:
		c.onCentrifuge(b, now)
	case SocketIO:
		c.onSocketIO(b, now)
	default:
		c.onGWS(b, now)
	}
}

var tsKey = []byte(`"ts":`)

// deliveries counts and times the broadcast payloads in b.
func (c *Conn) deliveries(b []byte, now int64) {
	n := int64(0)
	for {
		i := bytes.Index(b, tsKey)
		if i < 0 {
			break
		}
		b = b[i+len(tsKey):]
		j := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if c.recording.Load() {
			if ts, err := strconv.ParseInt(string(b[:j]), 10, 64); err == nil {
				c.lat = append(c.lat, now-ts)
			}
		}
		n++
	}
	if n > 0 {
		c.LastAt.Store(now)
		c.Delivered.Add(n)
	}
}

func (c *Conn) reply(id int64, now int64) {
	if e := c.echo.Load(); e != nil && e.active.Load() {
		e.onReply(c, id, now)
		return
	}
	c.waitMu.Lock()
	w := c.waiters[id]
	delete(c.waiters, id)
	c.waitMu.Unlock()
	if w != nil {
		close(w)
	}
}

func leadingInt(b []byte) int64 {
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int64(ch-'0')
	}
	return n
}

func (c *Conn) onRealtime(b []byte, now int64) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		switch {
		case bytes.HasPrefix(line, []byte(`{"ack":`)):
			if bytes.Contains(line, []byte(`"error":`)) {
				c.Errors.Add(1)
			}
			c.reply(leadingInt(line[len(`{"ack":`):]), now)
		case bytes.HasPrefix(line, []byte(`{"event":"__loly:connected"`)):
			c.markReady()
		case bytes.HasPrefix(line, []byte(`{"event":"__loly:error"`)):
			c.Errors.Add(1)
		default:
			c.deliveries(line, now)
		}
	}
}

func (c *Conn) onGWS(b []byte, now int64) {
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case 'E', 'J':
		c.reply(leadingInt(b[1:]), now)
	default:
		c.deliveries(b, now)
	}
}

func (c *Conn) onCentrifuge(b []byte, now int64) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		switch {
		case len(line) == 2 && line[0] == '{' && line[1] == '}':
			_ = c.write([]byte(`{}`)) // ping: the server asks for a pong
		case bytes.HasPrefix(line, []byte(`{"id":`)):
			id := leadingInt(line[len(`{"id":`):])
			if bytes.Contains(line, []byte(`"error":`)) {
				c.Errors.Add(1)
			}
			if id == 1 {
				c.markReady()
				continue
			}
			c.reply(id, now)
		default:
			c.deliveries(line, now)
		}
	}
}

func (c *Conn) onSocketIO(b []byte, now int64) {
	switch {
	case len(b) == 1 && b[0] == '2':
		_ = c.write([]byte{'3'})
	case bytes.HasPrefix(b, []byte("0{")):
		_ = c.write([]byte(`40{"token":"` + c.user + `"}`))
	case bytes.HasPrefix(b, []byte("40")):
		c.markReady()
	case bytes.HasPrefix(b, []byte("43")):
		c.reply(leadingInt(b[2:]), now)
	case bytes.HasPrefix(b, []byte("44")):
		c.Errors.Add(1)
	case bytes.HasPrefix(b, []byte("42")):
		c.deliveries(b, now)
	}
}
