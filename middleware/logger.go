package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/lolyjs/realtime"
)

// LoggerOpts configures LoggerWithOpts.
type LoggerOpts struct {
	// Logger receives the lines, and the handlers' own lines written
	// through Ctx.Logger (default: the mux's Config.Logger).
	Logger *slog.Logger
	// Level is the level of a successful event (default slog.LevelInfo).
	// Connects and disconnects are logged at Info or Level, whichever is
	// higher; refused events at Warn; internal errors at Error.
	Level slog.Level
}

// Logger logs one line per event to l with log/slog: namespace, socketId,
// event, requestId, userId when known, the duration and the outcome ("ok" or
// the error code). Connects and disconnects get a line too, the disconnect
// with its reason. Handlers' own lines through Ctx.Logger go to l with the
// same attributes. Nothing is formatted for a level that l does not enable.
// A nil l is the mux's Config.Logger, so that one logger serves the server,
// the access lines and the handlers.
func Logger(l *slog.Logger) func(realtime.Handler) realtime.Handler {
	return LoggerWithOpts(LoggerOpts{Logger: l})
}

// LoggerWithOpts is Logger with options.
func LoggerWithOpts(opts LoggerOpts) func(realtime.Handler) realtime.Handler {
	l := opts.Logger
	okLevel := opts.Level
	lifeLevel := max(okLevel, slog.LevelInfo)
	return func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if l != nil {
				c.SetLogger(l)
			}
			start := time.Now()
			err := next(c)
			level := okLevel
			if c.Kind() != realtime.KindEvent {
				level = lifeLevel
			}
			outcome := "ok"
			var cause error
			if err != nil {
				e := realtime.ErrorOf(err)
				outcome = e.Code
				level = slog.LevelWarn
				if e.Code == realtime.CodeInternal {
					level = slog.LevelError
					cause = e.Cause
				}
			}
			h := c.Logger().Handler()
			ctx := context.Background()
			if !h.Enabled(ctx, level) {
				return err
			}
			msg := "event"
			switch c.Kind() {
			case realtime.KindConnect:
				msg = "connect"
			case realtime.KindDisconnect:
				msg = "disconnect"
			}
			// The record goes to the handler directly, with no source
			// position: a Logger method would walk the stack for one on
			// every line. The event's and the socket's attributes are added
			// by c.Logger's handler.
			end := time.Now()
			r := slog.NewRecord(end, level, msg, 0)
			r.AddAttrs(slog.Duration("duration", end.Sub(start)), slog.String("outcome", outcome))
			if cause != nil {
				r.AddAttrs(slog.String("error", cause.Error()))
			}
			if c.Kind() == realtime.KindDisconnect {
				r.AddAttrs(slog.String("reason", disconnectReason(c.DisconnectReason())))
			}
			_ = h.Handle(ctx, r)
			return err
		}
	}
}

func disconnectReason(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}
