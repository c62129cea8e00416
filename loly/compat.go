package loly

import (
	"net/http"
	"net/url"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/middleware"
)

// Configure fills the zero fields of cfg with what loly's realtime layer
// did, so that the clients of a loly application see the same server:
//
//   - origins: CheckOrigin is LocalOrigins, loly's rule for its "*" and []
//     settings (its defaults), unless AllowedOrigins or CheckOrigin is set;
//   - Limits.ConnectionsPerIP is -1 (off): loly declared 20 but never
//     enforced it, so clients behind one NAT or proxy were never refused;
//   - ErrorHandler is ErrorHandler: loly's messages and details in
//     __loly:error.
//
// Fields already set are kept. Path, ping interval and timeout, payload
// size and the per-socket event limit are loly's by default already.
func Configure(cfg *realtime.Config) {
	if cfg.CheckOrigin == nil && len(cfg.AllowedOrigins) == 0 {
		cfg.CheckOrigin = LocalOrigins
	}
	if cfg.Limits.ConnectionsPerIP == 0 {
		cfg.Limits.ConnectionsPerIP = -1
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = ErrorHandler
	}
}

// LocalOrigins is loly's origin rule for allowedOrigins "*" or [] (its
// development and production defaults), for Config.CheckOrigin: a request
// without an Origin header is allowed, and so is a page served from
// localhost or 127.0.0.1 on an explicit port, over http or https. Every
// other origin is refused, "http://localhost" without a port included, as
// loly refused them. loly answered a refused origin with HTTP 400; the mux
// answers 403.
func LocalOrigins(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
		return false
	}
	port := u.Port()
	if port == "" || len(port) > 5 {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RateLimitOpts returns the RateLimit options that size buckets as loly
// did: a Rate without a Burst (a route's rateLimit: { eventsPerSecond: 5 })
// holds twice its events per second, where the default holds one second's
// worth. The per-socket limit is Config.Limits, loly's 30 per second with
// bursts of 60, as by default.
func RateLimitOpts() middleware.RateLimitOpts {
	return middleware.RateLimitOpts{BurstFactor: 2}
}

// Stages returns the standard stages in the order loly ran them, for
// mux.Use(loly.Stages()...): RequestID, Recoverer, Auth (each route's
// Route.Auth), then for each event Validate (the schema), Guard, and
// RateLimit with RateLimitOpts (the socket's limit, then the event's).
// Add middleware.Logger in front for a log line per event.
func Stages() realtime.Middlewares {
	return realtime.Chain(
		middleware.RequestID,
		middleware.Recoverer,
		middleware.Auth(nil),
		middleware.Validate,
		middleware.Guard,
		middleware.RateLimit(RateLimitOpts()),
	)
}

// KeepSocket wraps a connect handler (Route.OnConnect or Mux.OnConnect) so
// that an error it returns, or a panic, is logged and the socket kept, as
// loly kept a socket whose onConnect threw. Without it such an error
// refuses the socket. What the handler sent before failing has been sent.
func KeepSocket(h realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				c.Logger().Error("error in connect handler; socket kept", "panic", p)
				err = nil
			}
		}()
		if herr := h(c); herr != nil {
			c.Logger().Error("error in connect handler; socket kept", "error", herr.Error())
		}
		return nil
	}
}
