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
// # Settings that cannot be skipped
//
// A setting a route declares is only as good as the stage that enforces it,
// so Mux.Start refuses to serve when a declared setting has no such stage in
// the chain it applies to, naming the route, the event and the setting:
// Route.Auth needs Auth on the namespace's connect; Route.Guard needs Guard
// on the connect and on every event; an event's Guard needs Guard, its
// RateLimit needs RateLimit, and its Schema needs Validate unless the handler
// is a realtime.Typed one, which runs the schema itself. Stages added with
// With and Group count for the events registered through them.
//
// Each stage here records what it enforces with realtime.Enforces. A stage
// that replaces one of them, or wraps one, is a stage of its own and must be
// recorded the same way, or Start treats the setting as unenforced:
//
//	func AuditGuard(next realtime.Handler) realtime.Handler { ... }
//
//	var _ = realtime.Enforces(AuditGuard, realtime.SettingGuard)
//
// or, for a stage a constructor makes, around the value it returns:
//
//	return realtime.Enforces(func(next realtime.Handler) realtime.Handler { ... }, realtime.SettingAuth)
//
// Allow and RequireUser enforce conditions of their own, not the route's
// settings, and record nothing.
//
// # Lifecycle events
//
// Connects and disconnects pass through the same chain (Ctx.Kind tells them
// apart). Auth authenticates on connect; Guard applies the route guard on
// connect (a refusal closes the socket with 4403); RequestID and Logger cover
// both; Validate and RateLimit let them through.
package middleware
