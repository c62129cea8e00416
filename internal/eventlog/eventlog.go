// Package eventlog is the log handler of the events a mux handles: it adds
// the attributes of the event being handled, and of its socket, to every
// record, when the record is written, not when the event starts, so an
// event that logs nothing costs nothing, and one handler serves an event
// context for its whole pooled life.
package eventlog

import (
	"context"
	"log/slog"
	"reflect"
	"sync/atomic"
)

// Event is what the records of an event carry, read at the time of each.
type Event struct {
	// Base is the handler the records go to.
	Base slog.Handler
	// Namespace and SocketID are the socket's; Name and RequestID the
	// event's.
	Namespace, SocketID, Name, RequestID string
	// User is the socket's user (nil for none), compared by identity;
	// UserID its id.
	User   any
	UserID string
	// Cache is the socket's (see Cache).
	Cache *Cache
}

// Source gives an event's Base, and the whole Event when a record is
// written.
type Source interface {
	Base() slog.Handler
	Event() Event
}

// Handler is the slog.Handler of one event context.
type Handler struct {
	Src Source
}

// Enabled asks the base handler.
func (h Handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Src.Base().Enabled(ctx, l)
}

// Handle adds the event's own attributes (event, requestId) to the record
// and hands it to the socket's handler, which carries the socket's
// (namespace, socketId, userId) already formatted by the base handler's
// WithAttrs: a record costs no allocation for its attributes, and the
// socket's are formatted once per socket, not once per line.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	e := h.Src.Event()
	if sh := e.socketHandler(); sh != nil {
		r.AddAttrs(slog.String("event", e.Name), slog.String("requestId", e.RequestID))
		return sh.Handle(ctx, r)
	}
	r.AddAttrs(e.Attrs()...)
	return e.Base.Handle(ctx, r)
}

// WithAttrs and WithGroup return a handler fixed to the event's attributes
// at the time of the call, since the event context itself is recycled after
// the event.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	e := h.Src.Event()
	return e.Base.WithAttrs(append(e.Attrs(), attrs...))
}

// WithGroup: see WithAttrs.
func (h Handler) WithGroup(name string) slog.Handler {
	e := h.Src.Event()
	return e.Base.WithAttrs(e.Attrs()).WithGroup(name)
}

// Attrs returns the attributes that identify the event in logs: namespace,
// socketId, event, requestId, and userId when the socket has a user.
func (e Event) Attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs,
		slog.String("namespace", e.Namespace),
		slog.String("socketId", e.SocketID),
		slog.String("event", e.Name),
		slog.String("requestId", e.RequestID))
	if e.User != nil {
		attrs = append(attrs, slog.String("userId", e.UserID))
	}
	return attrs
}

// Cache keeps a socket's handler: a base handler with the attributes of
// the socket added. A stored one is never changed, only replaced. The zero
// Cache is empty.
type Cache struct {
	p atomic.Pointer[socketLog]
}

// socketLog is a base handler with the attributes of one socket added: it
// stays valid while the event's base handler and the socket's user are the
// ones it was made for.
type socketLog struct {
	base slog.Handler
	user any
	h    slog.Handler
}

// socketHandler returns the event's base handler with the socket's
// attributes, made on the first record of the socket (a socket that logs
// nothing never asks its handler for WithAttrs) and again when the base or
// the user changes. Only a base that is a pointer (as slog's own handlers
// are) is kept, since any other may not be comparable; for those it
// returns nil.
func (e Event) socketHandler() slog.Handler {
	base := e.Base
	if base == nil || reflect.TypeOf(base).Kind() != reflect.Pointer || e.Cache == nil {
		return nil
	}
	if sl := e.Cache.p.Load(); sl != nil && sl.base == base && sl.user == e.User {
		return sl.h
	}
	attrs := []slog.Attr{slog.String("namespace", e.Namespace), slog.String("socketId", e.SocketID)}
	if e.User != nil {
		attrs = append(attrs, slog.String("userId", e.UserID))
	}
	sl := &socketLog{base: base, user: e.User, h: base.WithAttrs(attrs)}
	e.Cache.p.Store(sl)
	return sl.h
}
