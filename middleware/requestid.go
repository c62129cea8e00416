package middleware

import (
	"github.com/google/uuid"

	"github.com/lolyjs/realtime"
)

// RequestID gives every event, connects and disconnects included, a fresh
// server-generated id: a UUID version 7, so ids sort by time. It is on the
// Ctx (Ctx.RequestID), in every error object sent for the event and in every
// log line written through Ctx.Logger. Clients cannot choose it.
func RequestID(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		id, err := uuid.NewV7()
		if err != nil {
			id = uuid.New()
		}
		c.SetRequestID(id.String())
		return next(c)
	}
}
