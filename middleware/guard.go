package middleware

import (
	"github.com/lolyjs/realtime"
)

// Guard applies the guards of the route and of the event: the route's
// Route.Guard for every event of the route and for its connects (a refusal
// then closes the socket with 4403), and the event's Event.Guard for that
// event. A guard returning false is FORBIDDEN; an error is reported as it is.
// Disconnects pass. It enforces realtime.SettingGuard.
func Guard(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		if c.Kind() == realtime.KindDisconnect {
			return next(c)
		}
		if r := c.Route(); r != nil && r.Guard != nil {
			if err := check(c, r.Guard); err != nil {
				return err
			}
		}
		if ep := c.Endpoint(); ep != nil && ep.Guard != nil && c.Kind() == realtime.KindEvent {
			if err := check(c, ep.Guard); err != nil {
				return err
			}
		}
		return next(c)
	}
}

var _ = realtime.Enforces(Guard, realtime.SettingGuard)

// Allow returns a stage that lets an event through only when guard allows
// it, for use with With and Group: r.With(middleware.Allow(isAdmin)).On(...).
// On connect it refuses the socket (4403).
func Allow(guard realtime.GuardFunc) func(realtime.Handler) realtime.Handler {
	return func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() == realtime.KindDisconnect {
				return next(c)
			}
			if err := check(c, guard); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func check(c *realtime.Ctx, guard realtime.GuardFunc) error {
	ok, err := guard(c)
	if err != nil {
		return err
	}
	if !ok {
		return realtime.ErrForbidden
	}
	return nil
}
