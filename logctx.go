package realtime

import (
	"log/slog"

	"github.com/lolyjs/realtime/internal/eventlog"
)

// ctxLog is the source of a Ctx's log handler (see internal/eventlog): the
// event's base handler, and its attributes when a record is written.
type ctxLog struct{ c *Ctx }

func (l ctxLog) Base() slog.Handler { return l.c.logBase }

func (l ctxLog) Event() eventlog.Event { return l.c.logEvent() }

func (c *Ctx) logEvent() eventlog.Event {
	s := c.socket
	e := eventlog.Event{Base: c.logBase, Namespace: s.ns.name, SocketID: s.id, Name: c.event, RequestID: c.requestID, Cache: &s.logs}
	if u := s.User(); u != nil {
		e.User, e.UserID = u, u.ID
	}
	return e
}

// LogAttrs returns the attributes that identify this event in logs:
// namespace, socketId, event, requestId, and userId when the socket has a
// user. Credentials are never among them.
func (c *Ctx) LogAttrs() []slog.Attr { return c.logEvent().Attrs() }
