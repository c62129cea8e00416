package realtime

import (
	"context"
	"log/slog"
	"reflect"
)

// eventLogHandler adds the attributes of the event being handled to every
// record logged through Ctx.Logger. The attributes are added when a record is
// written, not when the event starts, so an event that logs nothing costs
// nothing, and one Ctx keeps one Logger for its whole pooled life.
type eventLogHandler struct {
	c *Ctx
}

func (h eventLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.c.logBase.Enabled(ctx, l)
}

// Handle adds the event's own attributes (event, requestId) to the record
// and hands it to the socket's handler, which carries the socket's
// (namespace, socketId, userId) already formatted by the base handler's
// WithAttrs: a record costs no allocation for its attributes, and the
// socket's are formatted once per socket, not once per line.
func (h eventLogHandler) Handle(ctx context.Context, r slog.Record) error {
	c := h.c
	if sh := c.socketLogHandler(); sh != nil {
		r.AddAttrs(slog.String("event", c.event), slog.String("requestId", c.requestID))
		return sh.Handle(ctx, r)
	}
	r.AddAttrs(c.LogAttrs()...)
	return c.logBase.Handle(ctx, r)
}

// WithAttrs and WithGroup return a handler fixed to the event's attributes at
// the time of the call, since the Ctx itself is recycled after the event.
func (h eventLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.c.logBase.WithAttrs(append(h.c.LogAttrs(), attrs...))
}

func (h eventLogHandler) WithGroup(name string) slog.Handler {
	return h.c.logBase.WithAttrs(h.c.LogAttrs()).WithGroup(name)
}

// LogAttrs returns the attributes that identify this event in logs:
// namespace, socketId, event, requestId, and userId when the socket has a
// user. Credentials are never among them.
func (c *Ctx) LogAttrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs,
		slog.String("namespace", c.socket.ns.name),
		slog.String("socketId", c.socket.id),
		slog.String("event", c.event),
		slog.String("requestId", c.requestID))
	if u := c.socket.User(); u != nil {
		attrs = append(attrs, slog.String("userId", u.ID))
	}
	return attrs
}

// socketLogKey keys a socket's socketLog in its locals.
type socketLogKey struct{}

// socketLog is a base handler with the attributes of one socket added: it
// stays valid while the event's base handler and the socket's user are the
// ones it was made for. It is never changed once stored, only replaced.
type socketLog struct {
	base slog.Handler
	user *User
	h    slog.Handler
}

// socketLogHandler returns the event's base handler with the socket's
// attributes, made on the first record of the socket (a socket that logs
// nothing never asks its handler for WithAttrs) and again when the base or
// the user changes. Only a base that is a pointer (as slog's own handlers
// are) is kept, since any other may not be comparable; for those it
// returns nil.
func (c *Ctx) socketLogHandler() slog.Handler {
	base := c.logBase
	if base == nil || reflect.TypeOf(base).Kind() != reflect.Pointer {
		return nil
	}
	s := c.socket
	user := s.User()
	if sl, ok := s.Local(socketLogKey{}).(*socketLog); ok && sl.base == base && sl.user == user {
		return sl.h
	}
	attrs := []slog.Attr{slog.String("namespace", s.ns.name), slog.String("socketId", s.id)}
	if user != nil {
		attrs = append(attrs, slog.String("userId", user.ID))
	}
	sl := &socketLog{base: base, user: user, h: base.WithAttrs(attrs)}
	s.SetLocal(socketLogKey{}, sl)
	return sl.h
}
