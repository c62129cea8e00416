// Package middleware holds the standard stages of a realtime event pipeline,
// one file each, every one a func(realtime.Handler) realtime.Handler:
//
//	mux.Use(
//		middleware.RequestID,
//		middleware.Logger(logger),
//		middleware.Recoverer,
//		middleware.Auth(authenticate),
//		middleware.Validate,
//		middleware.Guard,
//		middleware.RateLimit(middleware.RateLimitOpts{}),
//	)
//
// # Order
//
// Put RequestID and Logger first, so that every refusal by a later stage is
// logged with its request id, and Recoverer right after them, so that a panic
// anywhere below becomes an INTERNAL_ERROR that the Logger sees. Auth must come
// before Guard and RateLimit, which read the user it binds. RateLimit may go
// earlier than Validate when decoding work itself should be limited.
//
// # Per-event settings
//
// The stages are configured once, on the mux; each event states only its own
// settings on its route (realtime.Event: Schema, Guard, RateLimit), which the
// stages read through Ctx.Endpoint and Ctx.Route. Any stage can be replaced by
// a function of the same shape and nothing else changes.
//
// # Lifecycle events
//
// Connects and disconnects pass through the same chain (Ctx.Kind tells them
// apart). Auth authenticates on connect; Guard applies the route guard on
// connect (a refusal closes the socket with 4403); RequestID and Logger cover
// both; Validate and RateLimit let them through.
package middleware
