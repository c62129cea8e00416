package realtime

import (
	"context"
	"log/slog"
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

func (h eventLogHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(h.c.LogAttrs()...)
	return h.c.logBase.Handle(ctx, r)
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
