package middleware

import (
	"fmt"
	"runtime/debug"

	"github.com/lolyjs/realtime"
)

// Recoverer turns a panic in a later stage or the handler into an
// INTERNAL_ERROR: the client is told only "internal error", the panic value
// and stack go to an error-level log line with the event's attributes, and
// the socket keeps working. Place it after RequestID and Logger.
func Recoverer(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				c.Logger().Error("panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = &realtime.Error{Code: realtime.CodeInternal, Message: realtime.ErrInternal.Message,
					Cause: fmt.Errorf("panic: %v", p)}
			}
		}()
		return next(c)
	}
}
