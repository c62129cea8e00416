package middleware

import (
	"github.com/lolyjs/realtime"
)

// Validate runs the event's schema (realtime.Event.Schema) on its data before
// the handler: a failure is BAD_PAYLOAD, with details mapping each field to
// its message, and the handler does not run; on success the typed value is
// on the Ctx (Ctx.Value), where realtime.Typed handlers take it without
// decoding again. Events without a schema, and lifecycle events, pass. It
// enforces realtime.SettingSchema.
func Validate(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		ep := c.Endpoint()
		if c.Kind() != realtime.KindEvent || ep == nil || ep.Schema == nil {
			return next(c)
		}
		if err := c.ParseData(ep.Schema); err != nil {
			return err
		}
		return next(c)
	}
}

var _ = realtime.Enforces(Validate, realtime.SettingSchema)
