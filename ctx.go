package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/lolyjs/realtime/internal/eventlog"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/wire"
	"github.com/lolyjs/realtime/store"
)

// Kind tells a client event from the lifecycle events a socket produces.
type Kind uint8

const (
	// KindEvent is an event sent by the client.
	KindEvent Kind = iota
	// KindConnect is a socket arriving; Auth binds its user here, and an
	// error refuses the socket.
	KindConnect
	// KindDisconnect is a socket leaving; errors are only logged.
	KindDisconnect
)

// String returns "event", "connect" or "disconnect".
func (k Kind) String() string {
	switch k {
	case KindConnect:
		return "connect"
	case KindDisconnect:
		return "disconnect"
	}
	return "event"
}

// Ctx is the context of one event of one socket: what arrived, and the
// actions a handler can take. Middleware and handlers receive it.
//
// A Ctx is valid only until the handler returns: it is recycled for later
// events. Copy what you need to keep (the data, the socket, the user), and
// never use the Ctx from another goroutine after the handler returned.
type Ctx struct {
	socket    *Socket
	kind      Kind
	event     string
	data      json.RawMessage
	args      []json.RawMessage
	ackID     int64
	acked     bool
	requestID string
	endpoint  *Event
	value     any
	valueSet  bool
	// valueRef, when set, made value: a reference that it derefs.
	valueRef  refSchema
	decodeErr *Error
	reason    error
	// ctx is the event's context, when a stage set one (SetContext).
	ctx     context.Context
	logBase slog.Handler
	// log is built once per pooled Ctx around its eventlog.Handler.
	log *slog.Logger
}

var ctxPool = sync.Pool{New: func() any {
	c := new(Ctx)
	c.log = slog.New(eventlog.Handler{Src: ctxLog{c}})
	return c
}}

func acquireCtx(s *Socket, kind Kind, event string) *Ctx {
	c := ctxPool.Get().(*Ctx)
	c.socket, c.kind, c.event = s, kind, event
	c.logBase = s.ns.srv.cfg.Logger.Handler()
	return c
}

func releaseCtx(c *Ctx) {
	log := c.log
	*c = Ctx{log: log}
	ctxPool.Put(c)
}

// Kind tells whether this is a client event, a connect or a disconnect.
func (c *Ctx) Kind() Kind { return c.kind }

// Event returns the event name: the client's, or EventConnect or
// EventDisconnect for lifecycle events. It is empty for a message that
// could not be decoded.
func (c *Ctx) Event() string { return c.event }

// Namespace returns the socket's namespace.
func (c *Ctx) Namespace() string { return c.socket.ns.name }

// Socket returns the socket the event belongs to. Unlike the Ctx, the
// Socket may be kept after the handler returns.
func (c *Ctx) Socket() *Socket { return c.socket }

// SocketID returns the socket's id.
func (c *Ctx) SocketID() string { return c.socket.id }

// User returns the socket's user, bound at connect, or nil.
func (c *Ctx) User() *User { return c.socket.User() }

// UserID returns the socket's user id, or "" for an anonymous socket.
func (c *Ctx) UserID() string {
	if u := c.socket.User(); u != nil {
		return u.ID
	}
	return ""
}

// SetUser binds the socket's identity. It is allowed only during the connect
// event (that is where the Auth stage calls it), so that nothing a client
// sends later can change who a socket is.
func (c *Ctx) SetUser(u *User) error {
	if c.kind != KindConnect {
		return errors.New("realtime: SetUser outside the connect event")
	}
	if u != nil && u.ID == "" {
		return errors.New("realtime: SetUser with an empty user ID")
	}
	c.socket.user.Store(u)
	return nil
}

// Request returns the socket's handshake request (headers, cookies, query,
// remote address). Treat it as read-only.
func (c *Ctx) Request() *http.Request { return c.socket.req }

// Context returns the event's context: the socket's, cancelled when the
// socket closes, or the one an earlier stage set with SetContext. Use it for
// I/O done on behalf of the event. Unlike the Ctx, it may be kept after the
// handler returns.
func (c *Ctx) Context() context.Context {
	if c.ctx != nil {
		return c.ctx
	}
	return c.socket.ctx
}

// SetContext sets the event's context for the rest of the chain, until the
// event ends: how a stage hands the handler a value it loaded, as HTTP
// middleware does with context.WithValue, or a deadline for its I/O. Derive
// ctx from c.Context(), so that it still ends with the socket. A stage that
// cancels ctx when next returns sets the previous one back first, for the
// stages before it. It panics on a nil ctx.
func (c *Ctx) SetContext(ctx context.Context) {
	if ctx == nil {
		panic("realtime: SetContext with a nil context")
	}
	c.ctx = ctx
}

// Data returns the event's data as raw JSON, or nil when it had none: a
// native client's data, or a Socket.IO client's arguments, one argument
// itself and several as a JSON array (Args has them one by one). Binary
// from a Socket.IO client is {"_lolybin":"<base64>"} objects; sent back as
// they are, they reach a Socket.IO client as binary again. The bytes are
// the Ctx's: copy them to keep them.
func (c *Ctx) Data() json.RawMessage { return c.data }

// Args returns the event's arguments as raw JSON, as they came: a
// Socket.IO client may send several (socket.emit("move", x, y)), a native
// client sends one, its data (none when it had no data). Binary
// attachments are {"_lolybin":"<base64>"} objects, which a Binary decodes.
// The slices are the Ctx's: copy them to keep them.
func (c *Ctx) Args() []json.RawMessage {
	if c.args == nil && c.data != nil {
		return []json.RawMessage{c.data}
	}
	return c.args
}

// Bind decodes the event's data into v. Binary, from a Socket.IO client's
// attachments or a native client's base64 strings, decodes into Binary and
// []byte fields. A failure is a BAD_PAYLOAD *Error, naming the field when
// it can.
func (c *Ctx) Bind(v any) error {
	if len(c.data) == 0 {
		return decodeJSON([]byte("null"), v, false)
	}
	return decodeJSON(c.data, v, false)
}

// BindArg decodes argument i (see Args) into v, the way Bind decodes the
// data; a missing argument decodes as JSON null.
func (c *Ctx) BindArg(i int, v any) error {
	if args := c.Args(); i >= 0 && i < len(args) {
		return decodeJSON(args[i], v, false)
	}
	return decodeJSON([]byte("null"), v, false)
}

// Value returns the data as validated by the event's schema (set by the
// Validate stage or by Typed), and whether there is one.
func (c *Ctx) Value() (any, bool) {
	if c.valueRef != nil {
		c.value, c.valueRef = c.valueRef.deref(c.value), nil
	}
	return c.value, c.valueSet
}

// SetValue stores the validated data for the handler (see also ParseData).
func (c *Ctx) SetValue(v any) { c.value, c.valueSet, c.valueRef = v, true, nil }

// Endpoint returns the settings of the event being handled (schema, guard,
// rate limit), or nil for unknown events, undecodable messages and
// lifecycle events without a handler. The generic middleware stages read it.
func (c *Ctx) Endpoint() *Event { return c.endpoint }

// Route returns the declarative route of the socket's namespace, or nil when
// the namespace was built with On and Handle.
func (c *Ctx) Route() *Route { return c.socket.ns.route }

// AckID returns the id the client asked to be acknowledged, or 0.
func (c *Ctx) AckID() int64 { return c.ackID }

// RequestID returns the id of this event, set by the RequestID stage.
func (c *Ctx) RequestID() string { return c.requestID }

// SetRequestID sets the id of this event.
func (c *Ctx) SetRequestID(id string) { c.requestID = id }

// Logger returns the logger for this event. Every record it writes carries
// the event's attributes (see LogAttrs), added only when a record is
// actually written. It writes to the mux's Config.Logger, or to the logger a
// middleware set with SetLogger. Do not keep it past the handler.
func (c *Ctx) Logger() *slog.Logger { return c.log }

// SetLogger sends this event's log records to l (the Logger stage calls it).
func (c *Ctx) SetLogger(l *slog.Logger) { c.logBase = l.Handler() }

// DisconnectReason returns why the socket left, during the disconnect event.
func (c *Ctx) DisconnectReason() error { return c.reason }

// Store returns the mux's shared state store.
func (c *Ctx) Store() store.Store { return c.socket.ns.srv.node.Store }

// Ack acknowledges the client's event with data. It does nothing when the
// client asked for no ack; a second Ack for the same event is an error.
// When a handler returns nil without acking, the mux acks with no data.
// While nothing is queued for the socket, the ack is written at once on the
// calling goroutine, with no hand-off to a writer; otherwise it is queued
// behind what is, so the client receives everything in order.
func (c *Ctx) Ack(data any) error {
	if c.ackID <= 0 {
		return nil
	}
	if c.acked {
		return errors.New("realtime: event already acknowledged")
	}
	if raw, ok := data.(json.RawMessage); ok && len(raw) > 0 && wire.Valid(raw) && wire.Compact(raw) {
		// Already as encoding/json would write it (the event's own data,
		// echoed, say): sent as it is, without a copy.
		c.acked = true
		c.socket.ackBorrowed(c.ackID, raw, link.AckValue)
		return nil
	}
	payload, err := encodeData(data)
	if err != nil {
		return err
	}
	c.acked = true
	c.socket.ack(c.ackID, payload, link.AckValue)
	return nil
}

// AckArgs acknowledges the client's event with several arguments, which a
// Socket.IO client's callback receives as its arguments. A native client
// receives one value, as Ctx.Data reads: one argument itself, several as
// a JSON array, none as no data. Otherwise it is Ack.
func (c *Ctx) AckArgs(args ...any) error {
	if c.ackID <= 0 {
		return nil
	}
	if c.acked {
		return errors.New("realtime: event already acknowledged")
	}
	msg, err := link.NewArgs("", args)
	if err != nil {
		return err
	}
	kind := link.AckValue
	if msg.Spread {
		kind = link.AckArgs
	}
	c.acked = true
	c.socket.ack(c.ackID, msg.Data, kind)
	return nil
}

// Acked reports whether the event was acknowledged already.
func (c *Ctx) Acked() bool { return c.acked }

// Reply sends an event to the calling socket only. While nothing is queued
// for the socket, the reply is written at once on the handler's goroutine
// (waiting for the client, for the write timeout at most, when its buffers
// are full), as Ack is; otherwise it is queued behind what is. A burst of
// many events for one socket is better sent with Socket().Emit, which
// queues them and lets the writer pack them into shared frames.
func (c *Ctx) Reply(event string, data any) error {
	payload, err := encodeData(data)
	if err != nil {
		return err
	}
	c.socket.reply(link.NewMessage(event, payload))
	return nil
}

// Emit sends an event to every socket of the namespace, the caller included,
// on every instance.
func (c *Ctx) Emit(event string, data any) error {
	return c.target().Emit(event, data)
}

// Broadcast sends an event to every socket of the namespace but the caller,
// on every instance.
func (c *Ctx) Broadcast(event string, data any) error {
	return c.target().Except(c.socket.id).Emit(event, data)
}

// ToRoom returns the sockets of a room, on every instance. Emit on it
// reaches the caller too when it is a member; add Except(c.SocketID()) to
// leave it out.
func (c *Ctx) ToRoom(room string) Target { return c.target().ToRoom(room) }

// ToUser returns every socket of a user in this namespace, on every
// instance.
func (c *Ctx) ToUser(userID string) Target { return c.target().ToUser(userID) }

// ToSocket returns the socket with the given id in this namespace, on
// whichever instance holds it (see Target.ToSocket).
func (c *Ctx) ToSocket(id string) Target { return c.target().ToSocket(id) }

// In returns the whole namespace as a Target.
func (c *Ctx) In() Target { return c.target() }

func (c *Ctx) target() Target {
	return Target{ctx: c.socket.ctx, ns: c.socket.ns, kind: topicNamespace}
}

// Join adds the calling socket to a room (see Socket.Join).
func (c *Ctx) Join(room string) error { return c.socket.Join(room) }

// Leave removes the calling socket from a room.
func (c *Ctx) Leave(room string) error { return c.socket.Leave(room) }

// Error returns an *Error with an application code, for the handler to
// return: return c.Error("ROOM_NOT_FOUND", "no such room", nil). The client
// gets it as one __loly:error (and as the ack's error when it asked for an
// ack), with the event and request id filled in.
func (c *Ctx) Error(code, message string, details any) error {
	return &Error{Code: code, Message: message, Details: details}
}

// DefaultErrorHandler is the standard error writer: it sends the client one
// __loly:error with the error object, plus an error ack when the client
// asked for an ack that was not sent yet. Internal errors are logged with
// their cause; the client sees only "internal error".
func DefaultErrorHandler(c *Ctx, err error) {
	e := ErrorOf(err)
	if e == nil {
		return
	}
	if c.kind == KindEvent {
		e.Event = c.event
	}
	e.RequestID = c.requestID
	if e.Code == CodeInternal && e.Cause != nil {
		c.Logger().Error("realtime: internal error", "error", e.Cause.Error())
	}
	body, merr := json.Marshal(e)
	if merr != nil {
		body, _ = json.Marshal(&Error{Code: e.Code, Message: e.Message, Event: e.Event, RequestID: e.RequestID})
	}
	c.socket.deliver(link.NewMessage(EventError, body))
	if c.ackID > 0 && !c.acked {
		c.acked = true
		c.socket.ack(c.ackID, body, link.AckError)
	}
}
