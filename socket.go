package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/lolyjs/realtime/internal/eventlog"
	"github.com/lolyjs/realtime/internal/gate"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/recovery"
	"github.com/lolyjs/realtime/internal/rooms"
	"github.com/lolyjs/realtime/internal/wire"
)

// Socket is one client's membership in one namespace. With the native
// protocol a connection carries exactly one socket; a Socket.IO connection
// carries one per namespace it joined. A Socket is safe for concurrent use;
// it stays valid after it closes, but emits to it are then dropped.
type Socket struct {
	id   string
	ns   *namespace
	link link.Conn
	// replier is link when its transport can answer on the caller's
	// goroutine, else nil.
	replier link.Replier
	req     *http.Request
	ip      string
	ctx     context.Context
	cancel  context.CancelFunc
	user    atomic.Pointer[User]
	// member is the socket's side of its namespace's membership table: its
	// rooms.
	member rooms.Member[*Socket]

	// holding is set while the connect runs: what the socket is sent
	// meanwhile waits in out, so that a socket refused at connect never
	// sees its connected notice, and one accepted sees it first.
	holding atomic.Bool
	out     gate.Gate
	// closing is set by the first Close: the socket joins no more rooms.
	closing atomic.Bool

	mu     sync.Mutex
	locals map[any]any

	// logs keeps the socket's log handler (see internal/eventlog).
	logs eventlog.Cache

	// In a namespace with history (see recovery.go): the socket's session,
	// its position when it started, and how a recovery went.
	session        string
	sessionPos     string
	recover        *recovery.Request
	recovered      bool
	recoveryReason string
}

func newSocket(ns *namespace, l link.Conn, r *http.Request, ip string) *Socket {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Socket{id: uuid.NewString(), ns: ns, link: l, req: r, ip: ip, ctx: ctx, cancel: cancel}
	s.replier, _ = l.(link.Replier)
	s.member.Init(s, s.id)
	s.out.Init(&s.holding)
	return s
}

// Local returns the value stored under key with SetLocal, or nil. Middleware
// keeps per-socket state here (rate limiter buckets, for example), so that
// it is freed with the socket.
func (s *Socket) Local(key any) any {
	s.mu.Lock()
	v := s.locals[key]
	s.mu.Unlock()
	return v
}

// SetLocal stores a value on the socket for as long as it lives. Use an
// unexported key type, as with context.WithValue.
func (s *Socket) SetLocal(key, value any) {
	s.mu.Lock()
	if s.locals == nil {
		s.locals = make(map[any]any)
	}
	s.locals[key] = value
	s.mu.Unlock()
}

// ID returns the socket's id, unique across the cluster.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace, like "/chat".
func (s *Socket) Namespace() string { return s.ns.name }

// User returns the user bound at connect, or nil for an anonymous socket.
func (s *Socket) User() *User { return s.user.Load() }

// Request returns the handshake request. Treat it as read-only.
func (s *Socket) Request() *http.Request { return s.req }

// RemoteIP returns the client address used for the per-address limit.
func (s *Socket) RemoteIP() string { return s.ip }

// Context returns a context that is cancelled when the socket closes.
func (s *Socket) Context() context.Context { return s.ctx }

// Limits returns the limits of the socket's mux (Config.Limits, with
// defaults filled in), for middleware that applies them.
func (s *Socket) Limits() Limits { return s.ns.srv.cfg.Limits }

// Rooms returns the rooms the socket is in, sorted.
func (s *Socket) Rooms() []string { return s.member.Rooms() }

// InRoom reports whether the socket is in the room.
func (s *Socket) InRoom(room string) bool { return s.member.In(room) }

// Join adds the socket to a room, in the cluster too: once Join returns,
// emits to the room from any instance reach the socket. If the broker cannot
// be reached (Redis down), the socket still joins and local emits reach it;
// the cross-instance subscription is retried in the background and emits
// from other instances reach it as soon as the broker is back. A socket that
// is closing (see Close) joins nothing, and Join returns nil.
func (s *Socket) Join(room string) error { return s.ns.join(s, room) }

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) error { return s.ns.leave(s, room) }

// Emit queues an event for this socket only. It never waits for the client.
func (s *Socket) Emit(event string, data any) error {
	payload, err := encodeData(data)
	if err != nil {
		return err
	}
	s.deliver(link.NewMessage(event, payload))
	return nil
}

// EmitArgs queues an event of several arguments for this socket only: a
// Socket.IO client's listener receives them as its arguments; a native
// client receives one value, as a handler reads Ctx.Data: one argument
// itself, several as a JSON array, none as no data.
func (s *Socket) EmitArgs(event string, args ...any) error {
	msg, err := link.NewArgs(event, args)
	if err != nil {
		return err
	}
	s.deliver(msg)
	return nil
}

// Close closes the socket with a WebSocket close code, after what is already
// queued for it has been written. A Socket.IO socket is disconnected from its
// namespace; its connection stays open for its other namespaces. Only the
// first Close counts; from then on the socket joins no room (Join returns
// nil and does nothing), and in a namespace with history its session is
// dropped when it leaves, so that its client cannot recover it.
//
// A Close made while the socket's connect runs takes effect when the connect
// ends: an accepted socket first gets its connected notice and what the
// connect sent it, and its disconnect event runs as usual; a refused one gets
// its refusal instead.
func (s *Socket) Close(code uint16, reason string) {
	if s.closing.Swap(true) {
		return
	}
	if !s.out.CloseLater(code, reason) {
		s.link.Close(code, reason)
	}
}

// ErrNoClientAcks is returned by Socket.EmitWithAck on a socket whose protocol
// cannot ask the client for an acknowledgement (the native protocol).
var ErrNoClientAcks = link.ErrNoClientAcks

// EmitWithAck sends an event that asks the client for an acknowledgement
// and waits for it, until ctx is done. The answer is the client's ack
// argument (several arguments come as a JSON array). Socket.IO clients answer
// through their event callback; native sockets return ErrNoClientAcks.
//
// The ack is read like any other packet of the socket, so a handler of the
// same socket must not wait for it: call EmitWithAck from another goroutine.
func (s *Socket) EmitWithAck(ctx context.Context, event string, data any) (json.RawMessage, error) {
	payload, err := encodeData(data)
	if err != nil {
		return nil, err
	}
	return s.link.Request(ctx, event, payload)
}

// The socket's output: while the connect runs it is held, in order.

func (s *Socket) deliver(m *link.Message) {
	if s.holding.Load() && s.hold(gate.Output{Msg: m}) {
		return
	}
	s.link.Deliver(m)
}

// ack answers an event of the socket's. It is called only while the event
// runs (by Ctx.Ack and the like), with no lock held, so a transport that can
// write on the calling goroutine does (link.Replier).
func (s *Socket) ack(id int64, data []byte, kind link.AckKind) {
	if s.holding.Load() && s.hold(gate.Output{AckID: id, Data: data, Kind: kind}) {
		return
	}
	if s.replier != nil {
		s.replier.AckNow(id, data, kind)
		return
	}
	s.link.Ack(id, data, kind)
}

// ackBorrowed is ack for data the caller owns only until it returns (it
// may be the event's frame): a transport that writes it at once copies it
// into the frame it writes; otherwise it is copied first.
func (s *Socket) ackBorrowed(id int64, data []byte, kind link.AckKind) {
	if s.replier == nil || s.holding.Load() {
		data = bytes.Clone(data)
	}
	s.ack(id, data, kind)
}

// reply is deliver for Ctx.Reply: an event to the socket whose event runs.
func (s *Socket) reply(m *link.Message) {
	if s.holding.Load() && s.hold(gate.Output{Msg: m}) {
		return
	}
	if s.replier != nil {
		s.replier.DeliverNow(m)
		return
	}
	s.link.Deliver(m)
}

func (s *Socket) accepted() link.Accepted {
	return link.Accepted{SocketID: s.id, Namespace: s.ns.name, Session: s.session, Offset: s.sessionPos,
		Recovered: s.recovered, Reason: s.recoveryReason}
}

// hold keeps an output back while the connect runs (see gate.Gate.Hold).
func (s *Socket) hold(o gate.Output) bool { return s.out.Hold(o) }

// release sends what was held, in order, and ends holding.
func (s *Socket) release() { s.out.Release(s.link, s.member.In) }

// connect runs the connect event of s through its namespace's chain, with
// the handshake data (the Socket.IO auth payload; nil for native sockets).
// On refusal the socket leaves its namespace and the client is told, with
// the error the error handler writes.
func (s *Socket) connect(data json.RawMessage) error {
	s.holding.Store(true)
	ctx := acquireCtx(s, KindConnect, EventConnect)
	ctx.endpoint = &s.ns.connect.Event
	ctx.data = data
	err := s.run(ctx, s.ns.connect.chain)
	if err != nil {
		s.ns.remove(s)
		s.refuse(ctx, ErrorOf(err))
	} else {
		s.release()
	}
	releaseCtx(ctx)
	return err
}

// refuse drops what the connect queued, has the error handler write the
// refusal, and tells the client through the link.
func (s *Socket) refuse(ctx *Ctx, e *Error) {
	body, msg := s.out.Refuse(EventError, e.Message, func() { s.ns.srv.cfg.ErrorHandler(ctx, e) })
	s.link.Refuse(msg, body, closeCodeFor(e))
	s.cancel()
}

// disconnect runs the disconnect event of a socket that was connected, then
// frees what it held: rooms, user, presence, subscriptions, its context.
func (s *Socket) disconnect(reason error) {
	listed := s.member.Listed()
	if listed && s.session != "" {
		if s.closing.Load() {
			s.dropSession() // closed by the application: not to be recovered
		} else {
			s.saveSession(s.ns.window())
		}
	}
	if listed {
		ctx := acquireCtx(s, KindDisconnect, EventDisconnect)
		ctx.endpoint = &s.ns.disconnect.Event
		ctx.reason = reason
		if err := s.run(ctx, s.ns.disconnect.chain); err != nil {
			ctx.Logger().Warn("realtime: disconnect handler failed", "error", err.Error())
		}
		releaseCtx(ctx)
	}
	s.ns.remove(s)
	s.cancel()
}

// handle runs one client event (or the refusal of one that could not be
// decoded) through the chain and answers it.
func (s *Socket) handle(env wire.Envelope, problem string) {
	ep := s.ns.invalid
	event := env.Event
	if problem == "" {
		if event != "" {
			ep = s.ns.events[event]
		} else {
			ep = s.ns.events[string(env.Name)] // indexing by string(bytes) does not copy
		}
		if ep != nil {
			event = ep.name // the registered name: no copy of the frame's bytes is kept
		} else if env.Event == "" {
			event = string(env.Name)
		}
	}
	ctx := acquireCtx(s, KindEvent, event)
	ctx.ackID = env.ID
	if problem != "" {
		ctx.decodeErr = badMessage(problem)
	} else {
		ctx.data, ctx.args = env.Data, env.Args
		if ep != nil {
			ctx.endpoint = &ep.Event
		} else {
			ep = s.ns.notFound
		}
	}
	err := s.run(ctx, ep.chain)
	if err != nil {
		s.ns.srv.cfg.ErrorHandler(ctx, err)
		if e := ErrorOf(err); e.Close != 0 {
			s.Close(e.Close, e.Message)
		}
	} else if ctx.ackID > 0 && !ctx.acked {
		ctx.acked = true
		s.ack(ctx.ackID, nil, link.AckValue)
	}
	releaseCtx(ctx)
}

// run calls a chain, turning a panic that escaped every middleware into an
// INTERNAL_ERROR so that no input can take the server down.
func (s *Socket) run(ctx *Ctx, h Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			ctx.Logger().Error("realtime: panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: fmt.Errorf("panic: %v", p)}
		}
	}()
	return h(ctx)
}

func badMessage(msg string) *Error {
	return &Error{Code: CodeBadMessage, Message: msg}
}
