// Package native is the transport of the native protocol, loly.v1 over
// WebSocket (gws): one connection is one socket. It upgrades requests,
// splits and decodes frames (internal/wire) for its Peer, and sends through
// a byte-bounded queue (internal/sendq) whose writer packs waiting
// envelopes into as few frames as it can. It knows nothing of the realtime
// core beyond internal/link.
package native

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/sendq"
	"github.com/lolyjs/realtime/internal/wire"
	"github.com/lolyjs/realtime/internal/wsconn"
)

// codec names the native encoding of a link.Message.
var codec = &link.Codec{Name: wire.Subprotocol}

// coalescedFrameBytes bounds a frame the writer packs several envelopes
// into (or MaxPayload, when larger).
const coalescedFrameBytes = 64 << 10

// Config configures the transport.
type Config struct {
	PingInterval, PingTimeout time.Duration
	// MaxPayload is the largest frame accepted from a client; a larger one
	// closes the connection with 1009.
	MaxPayload       int
	QueueBytes       int
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration
}

// Peer is the core's side of one connection.
type Peer interface {
	// Open runs when the connection is up, on its read goroutine: the
	// connect. What the connection is sent meanwhile is held by the core.
	Open()
	// Event handles one envelope of the client's, or the refusal problem
	// of one that could not be decoded (a BAD_MESSAGE), in arrival order.
	Event(env wire.Envelope, problem string)
	// Closed runs once, when the connection has ended.
	Closed(why link.Closed)
}

// Server upgrades requests to native connections.
type Server struct {
	cfg Config
	// withProtocol answers clients that offer the loly.v1 subprotocol with
	// it; plain serves every other client (gws would refuse a list it
	// cannot match, and the protocol says to answer with plain v1 instead).
	withProtocol, plain *gws.Upgrader
}

// NewServer returns a server for the configuration.
func NewServer(cfg Config) *Server {
	srv := &Server{cfg: cfg}
	opt := &gws.ServerOption{
		ReadMaxPayloadSize:  cfg.MaxPayload,
		WriteMaxPayloadSize: 64 << 20,
		HandshakeTimeout:    cfg.HandshakeTimeout,
		NewSession:          func() gws.SessionStorage { return new(Conn) },
	}
	plain := *opt
	opt.SubProtocols = []string{wire.Subprotocol}
	srv.withProtocol = gws.NewUpgrader(events{}, opt)
	srv.plain = gws.NewUpgrader(events{}, &plain)
	return srv
}

// Upgrade upgrades a request; the connection does nothing until Serve. A
// failed upgrade has been answered.
func (srv *Server) Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	up := srv.plain
	if offersSubprotocol(r) {
		up = srv.withProtocol
	}
	ws, err := up.Upgrade(w, r)
	if err != nil {
		return nil, err
	}
	c := ws.Session().(*Conn)
	c.srv, c.ws = srv, ws
	c.flushFn = c.flush
	c.q = sendq.New(sendq.Config{
		Limit:    srv.cfg.QueueBytes,
		Start:    func() { ws.Async(c.flushFn) },
		Overflow: c.unstick,
	})
	return c, nil
}

func offersSubprotocol(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == wire.Subprotocol {
				return true
			}
		}
	}
	return false
}

// Conn is one native connection, the link.Conn of its socket. It also
// serves as the gws session storage of its connection, which lets the event
// callbacks find it without a map lookup.
type Conn struct {
	srv  *Server
	ws   *gws.Conn
	peer Peer
	hb   *sendq.Heartbeat
	q    *sendq.Queue
	// flushFn is c.flush, made once: a method value passed to Async would
	// be allocated on every send that starts a write job.
	flushFn func()
	closed  atomic.Bool
	// deadlineFresh is when the write deadline was last set plus half the
	// write timeout; only the queue's writer turn reads and sets it.
	deadlineFresh time.Time
}

// Serve starts the connection's read loop, on a goroutine of its own, so
// that the caller's (the HTTP request's, with its stack and buffers) ends
// with the handshake.
func (c *Conn) Serve(p Peer) {
	c.peer = p
	go c.ws.ReadLoop()
}

// Kill cuts the connection at once, whatever it is doing.
func (c *Conn) Kill() { _ = c.ws.NetConn().Close() }

// The link.Conn of the socket.

// Deliver queues the message's native envelope. A message of several
// arguments (Spread) carries them as its data, one JSON array.
func (c *Conn) Deliver(m *link.Message) {
	c.send(c.encode(m))
}

// encode returns the message's native envelope, built once per message.
func (c *Conn) encode(m *link.Message) []byte {
	frame, _ := m.Encoded(codec, "", func() ([]byte, [][]byte) {
		data := m.Data
		if wire.HasBinary(data) {
			data = wire.NativeBinary(data)
		}
		b := wire.AppendEvent(make([]byte, 0, len(m.Event)+len(data)+len(m.Room)+len(m.Pos)+48), m.Event, data)
		if m.Pos != "" {
			b = b[:len(b)-1]
			b = append(b, `,"room":`...)
			b = wire.AppendString(b, m.Room)
			b = append(b, `,"offset":`...)
			b = wire.AppendString(b, m.Pos)
			b = append(b, '}')
		}
		return b, nil
	})
	return frame
}

// Ack queues an ack, or an error ack. Several arguments are one array.
func (c *Conn) Ack(id int64, data []byte, kind link.AckKind) {
	c.send(appendAck(nil, id, data, kind))
}

func appendAck(b []byte, id int64, data []byte, kind link.AckKind) []byte {
	if wire.HasBinary(data) {
		data = wire.NativeBinary(data)
	}
	if kind == link.AckError {
		return wire.AppendAckError(b, id, data)
	}
	return wire.AppendAck(b, id, data)
}

// AckNow is Ack, written at once on the calling goroutine (the socket's
// own read goroutine, running its event) when nothing is queued or being
// written: an answer then costs one write, as in a bare echo, and no
// hand-off to the writer. The frame is built in a pooled buffer, which
// gws copies into its own before writing.
func (c *Conn) AckNow(id int64, data []byte, kind link.AckKind) {
	buf := framePool.Get().(*[]byte)
	b := appendAck((*buf)[:0], id, data, kind)
	c.writeNow(b, true)
	*buf = b[:0]
	framePool.Put(buf)
}

// DeliverNow is Deliver, written at once on the calling goroutine when
// nothing is queued or being written.
func (c *Conn) DeliverNow(m *link.Message) {
	c.writeNow(c.encode(m), false)
}

// writeNow writes b as a frame of its own when the queue lets the caller
// take the writer's turn, and queues it otherwise (a copy when b is
// borrowed). Either way nothing overtakes what was queued before.
func (c *Conn) writeNow(b []byte, borrowed bool) {
	p := sendq.Packet{Data: b}
	if !c.q.TryWrite(p) {
		if borrowed {
			p.Data = append([]byte(nil), b...)
		}
		c.q.Push(p)
		return
	}
	c.refreshWriteDeadline()
	_ = c.ws.WriteMessage(gws.OpcodeText, b) // a failure closes the connection; OnClose follows
	c.q.WriteDone(p)
}

// refreshWriteDeadline gives the write about to happen the write timeout.
// Moving the deadline costs a clock read and a timer update, so it is moved
// only once half the timeout has passed since it was last set: a write may
// then get between half the timeout and all of it. It runs only in the
// writer's turn, which the queue gives one goroutine at a time.
func (c *Conn) refreshWriteDeadline() {
	now := time.Now()
	if now.Before(c.deadlineFresh) {
		return
	}
	wt := c.srv.cfg.WriteTimeout
	_ = c.ws.SetWriteDeadline(now.Add(wt))
	c.deadlineFresh = now.Add(wt / 2)
}

// EventConnected is the event that tells a client it is connected.
const EventConnected = wire.ReservedPrefix + "connected"

// EventError is the event that carries error objects.
const EventError = wire.ReservedPrefix + "error"

// Accept queues __loly:connected.
func (c *Conn) Accept(a link.Accepted) {
	c.send(appendConnected(nil, a))
}

func appendConnected(b []byte, a link.Accepted) []byte {
	b = append(b, `{"event":"`+EventConnected+`","data":{"socketId":`...)
	b = wire.AppendString(b, a.SocketID)
	b = append(b, `,"namespace":`...)
	b = wire.AppendString(b, a.Namespace)
	if a.Session != "" {
		b = append(b, `,"session":`...)
		b = wire.AppendString(b, a.Session)
		b = append(b, `,"offset":`...)
		b = wire.AppendString(b, a.Offset)
		b = append(b, `,"recovered":`...)
		b = strconv.AppendBool(b, a.Recovered)
		if a.Reason != "" {
			b = append(b, `,"reason":`...)
			b = wire.AppendString(b, a.Reason)
		}
	}
	return append(b, "}}"...)
}

// Refuse queues the error as __loly:error, then closes with code.
func (c *Conn) Refuse(_ string, errJSON []byte, code uint16) {
	if errJSON != nil {
		c.send(wire.AppendEvent(nil, EventError, errJSON))
	}
	c.Close(code, refuseReason(errJSON))
}

// refuseReason is the close reason of a refusal: the error's message.
func refuseReason(errJSON []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(errJSON, &e)
	return e.Message
}

// Close closes the connection with code once what is queued is written.
func (c *Conn) Close(code uint16, reason string) {
	c.q.CloseAfterDrain(sendq.Close{Code: code, Reason: reason})
}

// Request is not part of the native protocol.
func (c *Conn) Request(context.Context, string, []byte) (json.RawMessage, error) {
	return nil, link.ErrNoClientAcks
}

// Closing reports whether the connection is on its way out: refused,
// evicted or shut down. Its further events are not run.
func (c *Conn) Closing() bool { return c.q.Closing() }

func (c *Conn) send(b []byte) { c.q.Push(sendq.Packet{Data: b}) }

// unstick runs once the queue aborted on an overflow: a write stuck on a
// full TCP buffer gives up within the close grace, so the socket is freed
// even when the client never reads its close frame.
func (c *Conn) unstick() {
	_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(wsconn.CloseGrace))
}

// silent closes a connection whose heartbeat found it silent: what is
// queued is dropped, the close frame goes out if it can, and the connection
// is cut without waiting for an answer.
func (c *Conn) silent() {
	if c.q.Abort(sendq.Close{Code: 1001, Reason: "ping timeout", Abrupt: true}) {
		_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	}
}

func (c *Conn) ping() {
	c.ws.Async(func() {
		if c.q.Closing() {
			return
		}
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		_ = c.ws.WritePing(nil)
	})
}

// framePool holds the buffers flush coalesces envelopes into; each grows to
// the largest frame it served, at most the coalescing limit.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// flush writes what is queued, several envelopes to a frame, until the queue
// is empty; then it closes the connection when the queue was closed.
func (c *Conn) flush() {
	var frame *[]byte
	maxFrame := max(c.srv.cfg.MaxPayload, coalescedFrameBytes)
	for {
		batch, cl := c.q.Take()
		if batch == nil {
			if cl != nil {
				wsconn.Close(c.ws, cl.Code, cl.Reason, cl.Abrupt)
			}
			return
		}
		c.refreshWriteDeadline()
		var err error
		if len(batch) == 1 {
			// One envelope is a frame of its own: written as it is.
			err = c.ws.WriteMessage(gws.OpcodeText, batch[0].Data)
		} else {
			if frame == nil {
				frame = framePool.Get().(*[]byte)
				defer framePool.Put(frame)
			}
			buf := (*frame)[:0]
			for _, p := range batch {
				if len(buf) > 0 && len(buf)+1+len(p.Data) > maxFrame {
					if err = c.ws.WriteMessage(gws.OpcodeText, buf); err != nil {
						break
					}
					buf = buf[:0]
					if c.q.Aborted() {
						break // evicted meanwhile: the close goes next
					}
				}
				if len(buf) > 0 {
					buf = append(buf, '\n')
				}
				buf = append(buf, p.Data...)
			}
			if err == nil && len(buf) > 0 && !c.q.Aborted() {
				err = c.ws.WriteMessage(gws.OpcodeText, buf)
			}
			*frame = buf[:0] // keep what it grew to
		}
		c.q.Done(batch)
		if err != nil {
			return // gws closed the connection; OnClose follows
		}
	}
}

// gws.SessionStorage, unused: the Conn itself is what the callbacks need.

func (c *Conn) Len() int                     { return 0 }
func (c *Conn) Load(string) (any, bool)      { return nil, false }
func (c *Conn) Delete(string)                {}
func (c *Conn) Store(string, any)            {}
func (c *Conn) Range(func(string, any) bool) {}

func connOf(ws *gws.Conn) *Conn { return ws.Session().(*Conn) }

// events are the gws callbacks of native connections.
type events struct{}

func (events) OnOpen(ws *gws.Conn) {
	c := connOf(ws)
	cfg := c.srv.cfg
	c.hb = sendq.StartHeartbeat(cfg.PingInterval, cfg.PingTimeout, c.ping, c.silent)
	c.peer.Open()
}

func (events) OnPong(ws *gws.Conn, _ []byte) { connOf(ws).hb.Seen() }

func (events) OnPing(ws *gws.Conn, _ []byte) {
	c := connOf(ws)
	c.hb.Seen()
	if c.q.Closing() {
		return // nothing may follow the close frame
	}
	// A fresh deadline: the one left by the last write may have passed,
	// and would fail the pong (and close the connection).
	_ = ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_ = ws.WritePong(nil)
}

// OnMessage splits a frame into envelopes and hands each to the peer, in
// order, on the connection's read goroutine.
func (events) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(ws)
	c.hb.Seen()
	if c.q.Closing() {
		return
	}
	if msg.Opcode != gws.OpcodeText {
		c.peer.Event(wire.Envelope{}, "binary frames are not supported; send JSON text frames")
		return
	}
	wire.Split(msg.Bytes(), func(line []byte) {
		// A socket closed by an earlier envelope of the same frame (a
		// kick, an abuse close) runs nothing more.
		if c.q.Closing() {
			return
		}
		env, problem := wire.Decode(line)
		c.peer.Event(env, problem)
	})
}

// OnClose reports why the connection ended: the server's close when it
// decided one, else the client's.
func (events) OnClose(ws *gws.Conn, err error) {
	c := connOf(ws)
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	why := link.Closed{Code: 1006, Reason: "connection lost"}
	if cl, ok := c.q.Closed(); ok {
		why = link.Closed{Code: cl.Code, Reason: cl.Reason, ByServer: true}
	} else if code, reason, ok := wsconn.ClientClose(err); ok {
		why = link.Closed{Code: code, Reason: reason}
	} else if wsconn.TooLarge(err) {
		why = link.Closed{Code: 1009, Reason: "message too large", ByServer: true}
	}
	c.q.Stop()
	if c.hb != nil {
		c.hb.Stop()
	}
	if c.peer != nil {
		c.peer.Closed(why)
	}
}
