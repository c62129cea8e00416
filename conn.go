package realtime

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime/internal/sendq"
	"github.com/lolyjs/realtime/internal/wsconn"
)

// conn is one WebSocket connection speaking the native protocol. It owns
// the socket's send queue (internal/sendq): emits push encoded envelopes and
// return; one write job at a time, on gws's per-connection queue, coalesces
// what is waiting into as few frames as it can.
//
// conn also serves as the gws session storage of its connection, which lets
// the event callbacks find it without a map lookup.
type conn struct {
	srv  *server
	ns   *namespace
	ws   *gws.Conn
	ip   string
	sock *Socket
	idle time.Duration

	// lastSeen is when the last frame (pongs included) arrived, in Unix
	// nanoseconds; the heartbeat timer closes the socket when it is older
	// than PingInterval + PingTimeout. lastPing is the timer's own.
	lastSeen  atomic.Int64
	lastPing  time.Time
	heartbeat *time.Timer

	q *sendq.Queue
	// flushFn is c.flush, made once: a method value passed to Async would
	// be allocated on every send that starts a write job.
	flushFn func()
}

func (c *conn) init(s *server, ns *namespace, ws *gws.Conn, r *http.Request, ip string) {
	c.srv, c.ns, c.ws, c.ip = s, ns, ws, ip
	c.flushFn = c.flush
	c.q = sendq.New(sendq.Config{
		Limit:    s.cfg.SendQueueBytes,
		Start:    func() { ws.Async(c.flushFn) },
		Overflow: c.unstick,
	})
	c.idle = s.cfg.PingInterval + s.cfg.PingTimeout
	ctx, cancel := context.WithCancel(context.Background())
	c.sock = &Socket{id: uuid.NewString(), ns: ns, link: c, req: r, ctx: ctx, cancel: cancel}
}

// The native link: one socket, envelopes on the connection's send queue.

func (c *conn) emit(_ *Socket, m *message) { c.send(m.nativeEnvelope()) }
func (c *conn) remoteIP() string           { return c.ip }

func (c *conn) ack(_ *Socket, id int64, data []byte, isErr bool) {
	if hasBinary(data) {
		data = nativeBinary(data)
	}
	if isErr {
		c.send(appendAckError(nil, id, data))
	} else {
		c.send(appendAck(nil, id, data))
	}
}

func (c *conn) accept(s *Socket) {
	b := make([]byte, 0, 96)
	b = append(b, `{"event":"`+EventConnected+`","data":{"socketId":`...)
	b = appendJSONString(b, s.id)
	b = append(b, `,"namespace":`...)
	b = appendJSONString(b, s.ns.name)
	b = append(b, "}}"...)
	c.send(b)
}

// refuse drops what the connect event queued (__loly:connected, the
// handler's emits), so the client gets only the error, then closes.
func (c *conn) refuse(ctx *Ctx, e *Error) {
	c.q.Discard()
	c.srv.cfg.ErrorHandler(ctx, e)
	c.closeAfterDrain(closeCodeFor(e), e.Message)
}

func (c *conn) close(_ *Socket, code uint16, reason string) { c.closeAfterDrain(code, reason) }

// gws.SessionStorage, unused: the conn itself is what the callbacks need.
func (c *conn) Len() int                        { return 0 }
func (c *conn) Load(string) (any, bool)         { return nil, false }
func (c *conn) Delete(string)                   {}
func (c *conn) Store(string, any)               {}
func (c *conn) Range(func(string, any) bool)    {}
func connOf(ws *gws.Conn) *conn                 { return ws.Session().(*conn) }
func (c *conn) touch()                          { c.lastSeen.Store(time.Now().UnixNano()) }
func (s *server) OnPong(ws *gws.Conn, _ []byte) { connOf(ws).touch() }
func (s *server) OnPing(ws *gws.Conn, _ []byte) {
	c := connOf(ws)
	c.touch()
	if c.leaving() {
		return
	}
	// A fresh deadline: the one left by the last write may have passed,
	// and would fail the pong (and close the connection).
	_ = ws.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_ = ws.WritePong(nil)
}

// beat runs on the heartbeat timer: it closes a socket that has been silent
// too long, pings when a ping is due, and sets the timer for whichever of
// the two comes next.
func (c *conn) beat() {
	if c.leaving() {
		return
	}
	now := time.Now()
	silentUntil := time.Unix(0, c.lastSeen.Load()).Add(c.idle)
	if !now.Before(silentUntil) {
		c.abort(CloseGoingAway, "ping timeout")
		return
	}
	interval := c.srv.cfg.PingInterval
	if now.Sub(c.lastPing) >= interval {
		c.lastPing = now
		c.ws.Async(func() {
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
			_ = c.ws.WritePing(nil)
		})
	}
	next := c.lastPing.Add(interval)
	if silentUntil.Before(next) {
		next = silentUntil
	}
	c.heartbeat.Reset(next.Sub(now))
}

// OnOpen runs the connect event through the namespace's chain. What the
// connect queues is held back until it succeeds.
func (s *server) OnOpen(ws *gws.Conn) {
	c := connOf(ws)
	c.touch()
	c.lastPing = time.Now()
	c.heartbeat = time.AfterFunc(min(s.cfg.PingInterval, c.idle), c.beat)
	c.q.Hold()
	if err := c.sock.connect(nil); err != nil {
		return
	}
	c.q.Release()
}

// OnClose runs the disconnect event, then frees everything the socket held.
// When the server closed the socket, its close is the disconnect reason.
func (s *server) OnClose(ws *gws.Conn, reason error) {
	c := connOf(ws)
	if cl, ok := c.q.Closed(); ok {
		reason = &CloseError{Code: cl.Code, Reason: cl.Reason}
	}
	c.q.Stop()
	if c.heartbeat != nil {
		c.heartbeat.Stop()
	}
	c.sock.disconnect(reason)
	s.untrack(c)
}

// OnMessage splits a frame into envelopes and runs each through the chain,
// in order, on the connection's read goroutine.
func (s *server) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(ws)
	c.touch()
	if !c.sock.member || c.leaving() {
		return
	}
	if msg.Opcode != gws.OpcodeText {
		c.sock.handle(envelope{}, badMessage("binary frames are not supported; send JSON text frames"))
		return
	}
	splitFrame(msg.Bytes(), c.dispatch)
}

func (c *conn) dispatch(line []byte) {
	// A socket closed by an earlier envelope of the same frame (a kick, an
	// abuse close) runs nothing more.
	if c.leaving() {
		return
	}
	env, derr := decodeEnvelope(line)
	c.sock.handle(env, derr)
}

// send queues one encoded envelope. A client that lets more than
// SendQueueBytes wait is not reading: the queue aborts, the socket is
// closed with 1013, and a slow client costs bounded memory and never delays
// anyone else.
func (c *conn) send(b []byte) { c.q.Push(sendq.Packet{Data: b}) }

// unstick runs once the queue aborted: a write stuck on a full TCP buffer
// gives up within the close grace, so the socket is freed even when the
// client never reads its close frame.
func (c *conn) unstick() {
	_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(wsconn.CloseGrace))
}

// abort closes a socket that went silent: what is queued is dropped, the
// close frame goes out if it can, and the connection is cut without waiting
// for an answer.
func (c *conn) abort(code uint16, reason string) {
	if c.q.Abort(sendq.Close{Code: code, Reason: reason, Abrupt: true}) {
		_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	}
}

// leaving reports whether the socket is on its way out: refused at connect,
// evicted as a slow consumer, or shut down. Its further events are not run:
// nothing they sent would reach the client, and a refused socket must not
// act while its close frame waits behind a full buffer.
func (c *conn) leaving() bool { return c.q.Closing() }

// closeAfterDrain closes the socket with code once what is queued is written.
func (c *conn) closeAfterDrain(code uint16, reason string) {
	c.q.CloseAfterDrain(sendq.Close{Code: code, Reason: reason})
}

// framePool holds the buffers flush coalesces envelopes into; each grows to
// the largest frame it served, at most the coalescing limit.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// flush writes what is queued, several envelopes to a frame, until the queue
// is empty; then it closes the connection when the queue was closed.
func (c *conn) flush() {
	var frame *[]byte
	maxFrame := max(c.srv.cfg.MaxPayloadBytes, defaultCoalescedFrameBytes)
	for {
		batch, cl := c.q.Take()
		if batch == nil {
			if cl != nil {
				wsconn.Close(c.ws, cl.Code, cl.Reason, cl.Abrupt)
			}
			return
		}
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
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
