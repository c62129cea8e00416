package realtime

// Handler handles one event for one socket. It returns nil when the event was
// handled, or an error that the mux's error handler turns into one
// __loly:error for the client (and an error ack when the client asked for
// one). Return an *Error (see Ctx.Error and NewError) to choose the code the
// client sees; any other error reaches the client as INTERNAL_ERROR, with its
// text kept for the logs only.
//
// Connects and disconnects run through handlers too, as lifecycle events (see
// Kind): a middleware sees every event a socket ever produces.
type Handler func(c *Ctx) error

// Middlewares is a stack of middleware, each a func(Handler) Handler. The
// first one runs outermost: it sees the event first and the result last.
type Middlewares []func(Handler) Handler

// Chain returns the middlewares as a stack, for composing them into a handler
// with Middlewares.Handler or for reuse with Mux.Use and Mux.With.
func Chain(middlewares ...func(Handler) Handler) Middlewares {
	return Middlewares(middlewares)
}

// Handler wraps h in the stack, first middleware outermost.
func (mws Middlewares) Handler(h Handler) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
