package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/cluster"
	"github.com/lolyjs/realtime/middleware"
)

type echoMsg struct {
	Seq  int64  `json:"seq"`
	Text string `json:"text"`
}

// The validation rules are built once, in package variables, as the README
// writes them.
var (
	seqRules  = []validation.Rule{validation.Min(0)}
	textRules = []validation.Rule{validation.Required, validation.Length(1, 280)}
	roomRules = []validation.Rule{validation.Required, validation.Length(1, 64)}
)

func (m *echoMsg) Validate() error {
	return validation.ValidateStruct(m,
		validation.Field(&m.Seq, seqRules...),
		validation.Field(&m.Text, textRules...))
}

type joinMsg struct {
	Room string `json:"room"`
}

func (m *joinMsg) Validate() error {
	return validation.ValidateStruct(m, validation.Field(&m.Room, roomRules...))
}

type bcastMsg struct {
	Room string `json:"room"`
	Seq  int64  `json:"seq"`
	TS   int64  `json:"ts"`
	Text string `json:"text"`
}

func (m *bcastMsg) Validate() error {
	return validation.ValidateStruct(m,
		validation.Field(&m.Room, roomRules...),
		validation.Field(&m.Text, textRules...))
}

func hasUser(c *realtime.Ctx) (bool, error) { return c.User() != nil, nil }

// newRealtime serves namespace /bench at /wss/ behind the full chain:
// RequestID, Logger (JSON at Info to io.Discard: the line is formatted and
// thrown away), Recoverer, Auth (the user is the token query parameter),
// Validate (a small struct schema per event), Guard (a route guard and an
// event guard) and RateLimit (buckets consulted on every event, sized so
// that the load never runs them dry). With history, every room keeps its
// last 1,000 messages (Route.History): each broadcast is appended to the
// room's log (in memory, or on Redis in a cluster) and carries its offset.
func newRealtime(ctx context.Context, opts Options, stages, history bool) (*Server, error) {
	cfg := realtime.Config{
		Logger:         slog.New(slog.DiscardHandler),
		AllowedOrigins: []string{"*"},
		Limits:         realtime.Limits{ConnectionsPerIP: -1},
		InstanceID:     opts.Instance,
	}
	var backends *cluster.Backends
	if opts.Redis != "" {
		b, err := cluster.Redis(ctx, opts.Redis, cluster.Options{Prefix: opts.Prefix + "rt:"})
		if err != nil {
			return nil, err
		}
		backends = b
		b.Configure(&cfg)
	}
	mux := realtime.New(cfg)
	if !stages {
		return serveMux(ctx, mux, backends, minimalRoute())
	}
	mux.Use(
		middleware.RequestID,
		middleware.Logger(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		middleware.Recoverer,
		middleware.AuthWithOpts(middleware.AuthOpts{Required: true, Hook: func(c *realtime.Ctx) (*realtime.User, error) {
			if t := middleware.QueryToken(c.Request()); t != "" {
				return &realtime.User{ID: t}, nil
			}
			return nil, nil
		}}),
		middleware.Validate,
		middleware.Guard,
		middleware.RateLimit(middleware.RateLimitOpts{PerSocket: &realtime.Rate{EventsPerSecond: 1e7, Burst: 1e6}}),
	)
	route := realtime.Route{
		Namespace: "/bench",
		Guard:     func(*realtime.Ctx) (bool, error) { return true, nil },
		Events: map[string]realtime.Event{
			"echo": {
				Schema:  realtime.JSON[echoMsg](),
				Guard:   hasUser,
				Handler: realtime.Typed(func(c *realtime.Ctx, m echoMsg) error { return c.Ack(m) }),
			},
			"join": {
				Schema:  realtime.JSON[joinMsg](),
				Handler: realtime.Typed(func(c *realtime.Ctx, m joinMsg) error { return c.Join(m.Room) }),
			},
			"bcast": {
				Schema:    realtime.JSON[bcastMsg](),
				Guard:     hasUser,
				RateLimit: &realtime.Rate{EventsPerSecond: 1e7, Burst: 1e6},
				Handler: realtime.Typed(func(c *realtime.Ctx, m bcastMsg) error {
					return c.ToRoom(m.Room).Emit("msg", m)
				}),
			},
		},
	}
	if history {
		route.History = realtime.History{Size: 1000}
	}
	return serveMux(ctx, mux, backends, route)
}

// minimalRoute serves the same events with no stages: echo acks the data as
// it came, join joins, bcast reads the room with a small struct and emits
// the data as it came.
func minimalRoute() realtime.Route {
	return realtime.Route{
		Namespace: "/bench",
		Events: map[string]realtime.Event{
			"echo": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Data()) }},
			"join": {Handler: func(c *realtime.Ctx) error {
				var m joinMsg
				if err := c.Bind(&m); err != nil {
					return err
				}
				return c.Join(m.Room)
			}},
			"bcast": {Handler: func(c *realtime.Ctx) error {
				var m struct {
					Room string `json:"room"`
				}
				if err := c.Bind(&m); err != nil {
					return err
				}
				return c.ToRoom(m.Room).Emit("msg", c.Data())
			}},
		},
	}
}

func serveMux(ctx context.Context, mux *realtime.Mux, backends *cluster.Backends, route realtime.Route) (*Server, error) {
	mux.Route(route)
	if err := mux.Start(ctx); err != nil {
		return nil, err
	}
	h := http.NewServeMux()
	h.Handle("/wss/", mux)
	return &Server{Handler: h, Close: func(ctx context.Context) error {
		err := mux.Shutdown(ctx)
		if backends != nil {
			_ = backends.Close()
		}
		return err
	}}, nil
}
