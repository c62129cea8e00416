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
//
// The returned error's cause keeps the panic: a panic with an error value
// wraps it, so errors.Is and errors.As see through to it.
func Recoverer(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				c.Logger().Error("panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				var cause error
				if pe, isErr := p.(error); isErr {
					cause = fmt.Errorf("panic: %w", pe)
				} else {
					cause = fmt.Errorf("panic: %v", p)
				}
				err = &realtime.Error{Code: realtime.CodeInternal, Message: realtime.ErrInternal.Message, Cause: cause}
			}
		}()
		return next(c)
	}
}
