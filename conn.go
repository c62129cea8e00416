package realtime

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lxzan/gws"
)

// conn is one WebSocket connection speaking the native protocol. It owns the
// socket's send queue: emits append encoded envelopes and return; one write
// job at a time, on gws's per-connection queue, coalesces what is waiting
// into as few frames as it can.
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

	qmu sync.Mutex
	// holding keeps queued envelopes back while the connect event runs, so
	// that a socket refused by its OnConnect never sees __loly:connected.
	holding bool
	// flushFn is c.flush, made once: a method value passed to Async would
	// be allocated on every send that starts a write job.
	flushFn     func()
	queue       [][]byte
	spare       [][]byte
	flushing    bool
	closing     bool
	closeCode   uint16
	closeReason string
	// closedBy is why the server closed the socket, when it did; it becomes
	// the disconnect reason.
	closedBy *CloseError
}

func (c *conn) init(s *server, ns *namespace, ws *gws.Conn, r *http.Request, ip string) {
	c.srv, c.ns, c.ws, c.ip = s, ns, ws, ip
	c.flushFn = c.flush
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
	c.qmu.Lock()
	c.queue = c.queue[:0]
	c.holding = false
	c.qmu.Unlock()
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
	c.qmu.Lock()
	closing := c.closing
	c.qmu.Unlock()
	if closing {
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
	c.qmu.Lock()
	c.holding = true
	c.qmu.Unlock()
	if err := c.sock.connect(nil); err != nil {
		return
	}
	c.qmu.Lock()
	c.holding = false
	start := len(c.queue) > 0 && !c.flushing && !c.closing
	if start {
		c.flushing = true
	}
	c.qmu.Unlock()
	if start {
		c.ws.Async(c.flushFn)
	}
}

// OnClose runs the disconnect event, then frees everything the socket held.
func (s *server) OnClose(ws *gws.Conn, reason error) {
	c := connOf(ws)
	c.qmu.Lock()
	c.closing = true
	c.queue = nil
	if c.closedBy != nil {
		reason = c.closedBy
	}
	c.qmu.Unlock()
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

// send queues one encoded envelope. A full queue means the client is not
// reading: the socket is closed with 1013 and the queue dropped, so a slow
// client costs bounded memory and never delays anyone else.
func (c *conn) send(b []byte) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	if len(c.queue) >= c.srv.cfg.SendQueueLen {
		c.qmu.Unlock()
		c.abort(CloseTryAgainLater, "slow consumer")
		return
	}
	c.queue = append(c.queue, b)
	start := !c.flushing && !c.holding
	if start {
		c.flushing = true
	}
	c.qmu.Unlock()
	if start {
		c.ws.Async(c.flushFn)
	}
}

// abort closes a socket that cannot be served normally (its queue
// overflowed, or it went silent): what is queued is dropped, and a write
// stuck on a full TCP buffer gives up within a second, so the socket is
// freed even when the close frame cannot be delivered.
func (c *conn) abort(code uint16, reason string) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.queue = nil
	c.closing = true
	c.closeCode, c.closeReason = code, reason
	c.closedBy = &CloseError{Code: code, Reason: reason}
	start := !c.flushing
	c.flushing = true
	c.qmu.Unlock()
	_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	if start {
		c.ws.Async(c.flushFn)
	}
}

// leaving reports whether the socket is on its way out: refused at connect,
// evicted as a slow consumer, or shut down. Its further events are not run:
// nothing they sent would reach the client, and a refused socket must not
// act while its close frame waits behind a full buffer.
func (c *conn) leaving() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.closing
}

// closeAfterDrain closes the socket with code once what is queued is written.
func (c *conn) closeAfterDrain(code uint16, reason string) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.closing = true
	c.closeCode, c.closeReason = code, reason
	c.closedBy = &CloseError{Code: code, Reason: reason}
	start := !c.flushing
	c.flushing = true
	c.qmu.Unlock()
	if start {
		c.ws.Async(c.flushFn)
	}
}

// framePool holds the buffers flush coalesces envelopes into; each grows to
// the largest frame it served, at most the coalescing limit.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// flush writes what is queued, several envelopes to a frame, until the queue
// is empty; then it sends the pending close frame, if any.
func (c *conn) flush() {
	var frame *[]byte
	maxFrame := c.srv.cfg.MaxPayloadBytes
	if maxFrame < defaultCoalescedFrameBytes {
		maxFrame = defaultCoalescedFrameBytes
	}
	for {
		c.qmu.Lock()
		batch := c.queue
		if len(batch) == 0 {
			c.flushing = false
			code, reason := c.closeCode, c.closeReason
			c.closeCode = 0
			c.qmu.Unlock()
			if code != 0 {
				// A close frame is small: a client that cannot take it
				// within a second is not reading, and is cut.
				_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
				_ = c.ws.WriteClose(code, []byte(reason))
			}
			return
		}
		c.queue = c.spare[:0]
		c.qmu.Unlock()

		_ = c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		if len(batch) == 1 {
			// One envelope is a frame of its own: written as it is.
			err := c.ws.WriteMessage(gws.OpcodeText, batch[0])
			batch[0] = nil
			if err != nil {
				return
			}
			c.qmu.Lock()
			c.spare = batch[:0]
			c.qmu.Unlock()
			continue
		}
		if frame == nil {
			frame = framePool.Get().(*[]byte)
			defer framePool.Put(frame)
		}
		buf := (*frame)[:0]
		for i, env := range batch {
			if len(buf) > 0 && len(buf)+1+len(env) > maxFrame {
				if c.ws.WriteMessage(gws.OpcodeText, buf) != nil {
					return
				}
				buf = buf[:0]
			}
			if len(buf) > 0 {
				buf = append(buf, '\n')
			}
			buf = append(buf, env...)
			batch[i] = nil
		}
		*frame = buf[:0] // keep what it grew to
		if err := c.ws.WriteMessage(gws.OpcodeText, buf); err != nil {
			return
		}
		c.qmu.Lock()
		c.spare = batch[:0]
		c.qmu.Unlock()
	}
}
