package realtime

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
)

// link is the connection a socket travels on: a native WebSocket connection
// (one socket each) or an Engine.IO session carrying Socket.IO (one socket per
// namespace). Dispatch, acks, errors and emits go through it, so everything
// above the codec is the same for both protocols.
type link interface {
	// emit queues an event for s. It never blocks on the client.
	emit(s *Socket, m *message)
	// ack answers the client's event id with data (JSON or nil), or with an
	// error object when isErr.
	ack(s *Socket, id int64, data []byte, isErr bool)
	// accept tells the client that s is connected.
	accept(s *Socket)
	// refuse tells the client that the connect of s failed with e, and ends s.
	refuse(ctx *Ctx, e *Error)
	// close ends s with a close code, after what is queued for it.
	close(s *Socket, code uint16, reason string)
	// remoteIP is the client address counted by the per-address limit.
	remoteIP() string
}

// message is one event on its way to sockets: encoded to JSON once, and to
// each wire format at most once, however many sockets receive it. A message
// is used by one goroutine at a time.
type message struct {
	event  string
	data   []byte // JSON, or nil for no data
	native []byte
	sio    *sioMessage
}

func newMessage(event string, data []byte) *message {
	return &message{event: event, data: data}
}

// nativeEnvelope returns the message as a native protocol envelope.
func (m *message) nativeEnvelope() []byte {
	if m.native == nil {
		data := m.data
		if hasBinary(data) {
			data = nativeBinary(data)
		}
		m.native = appendEvent(make([]byte, 0, len(m.event)+len(data)+24), m.event, data)
	}
	return m.native
}

// connect runs the connect event of s through its namespace's chain, with
// the handshake data (the Socket.IO auth payload; nil for native sockets).
// On refusal the socket leaves its namespace and the link tells the client.
func (s *Socket) connect(data json.RawMessage) error {
	ctx := acquireCtx(s, KindConnect, EventConnect)
	ctx.endpoint = &s.ns.connect.Event
	ctx.data = data
	err := s.run(ctx, s.ns.connect.chain)
	if err != nil {
		s.ns.remove(s)
		e := ErrorOf(err)
		s.link.refuse(ctx, e)
	}
	releaseCtx(ctx)
	return err
}

// disconnect runs the disconnect event of a socket that was connected, then
// frees what it held: rooms, user, presence, subscriptions, its context.
func (s *Socket) disconnect(reason error) {
	if s.member {
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

// handle runs one client event (or the error of one that could not be
// decoded) through the chain and answers it.
func (s *Socket) handle(env envelope, derr *Error) {
	ep := s.ns.invalid
	event := env.event
	if derr == nil {
		if event != "" {
			ep = s.ns.events[event]
		} else {
			ep = s.ns.events[string(env.name)] // indexing by string(bytes) does not copy
		}
		if ep != nil {
			event = ep.name // the registered name: no copy of the frame's bytes is kept
		} else if env.event == "" {
			event = string(env.name)
		}
	}
	ctx := acquireCtx(s, KindEvent, event)
	ctx.ackID = env.id
	if derr != nil {
		ctx.decodeErr = derr
	} else {
		ctx.data = env.data
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
			s.link.close(s, e.Close, e.Message)
		}
	} else if ctx.ackID > 0 && !ctx.acked {
		ctx.acked = true
		s.link.ack(s, ctx.ackID, nil, false)
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
