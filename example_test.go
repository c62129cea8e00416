package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/realtimetest"
)

// division is the data of the "divide" event.
type division struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Validate refuses a zero divisor: Required fails on a zero value.
func (d division) Validate() error {
	return validation.ValidateStruct(&d, validation.Field(&d.B, validation.Required))
}

// Example serves a namespace with one event over loopback, and calls it with a
// client that asks for acknowledgements: once with valid data, once with data
// its schema refuses.
func Example() {
	mux := realtime.New(realtime.Config{})
	mux.Route(realtime.Route{
		Namespace: "/math",
		Events: map[string]realtime.Event{
			"divide": {
				Schema: realtime.JSON[division](),
				Handler: realtime.Typed(func(c *realtime.Ctx, d division) error {
					return c.Ack(map[string]float64{"quotient": d.A / d.B})
				}),
			},
		},
	})
	if err := mux.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown closes the sockets with 1001, before the HTTP server stops.
	defer mux.Shutdown(ctx)

	// The mux serves at /wss by default, so /wss/math is namespace /math.
	client, err := realtimetest.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/wss/math", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	result, err := client.Request(ctx, "divide", map[string]float64{"a": 7, "b": 2})
	fmt.Println(string(result), err)

	_, err = client.Request(ctx, "divide", map[string]float64{"a": 1, "b": 0})
	var e *realtime.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Event, e.Details)
	}
	// Output:
	// {"quotient":3.5} <nil>
	// BAD_PAYLOAD divide map[b:cannot be blank]
}

// room is what a stage loads for the handlers of a room's events.
type room struct {
	Name  string
	Topic string
}

// roomKey is the context key of the room an event is about; a type of its
// own, so that no other package's value can collide with it.
type roomKey struct{}

// roomOf returns the room the loadRoom stage put in the event's context.
func roomOf(c *realtime.Ctx) (*room, bool) {
	r, ok := c.Context().Value(roomKey{}).(*room)
	return r, ok
}

// ExampleCtx_SetContext shows a stage that loads the room an event names and
// hands it to the handler through the event's context, the way HTTP
// middleware uses context.WithValue. The handler reads it with the typed key;
// an unknown room stops the event in the stage.
func ExampleCtx_SetContext() {
	rooms := map[string]*room{"lobby": {Name: "lobby", Topic: "say hello"}}
	loadRoom := func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() != realtime.KindEvent {
				return next(c)
			}
			var req struct {
				Room string `json:"room"`
			}
			if err := c.Bind(&req); err != nil {
				return err
			}
			r, ok := rooms[req.Room]
			if !ok {
				return c.Error("ROOM_NOT_FOUND", "no room "+req.Room, nil)
			}
			c.SetContext(context.WithValue(c.Context(), roomKey{}, r))
			return next(c)
		}
	}

	mux := realtime.New(realtime.Config{})
	mux.With(loadRoom).On("room:topic", func(c *realtime.Ctx) error {
		r, _ := roomOf(c)
		return c.Ack(r.Name + ": " + r.Topic)
	})
	if err := mux.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer mux.Shutdown(ctx)

	client, err := realtimetest.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/wss", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	topic, err := client.Request(ctx, "room:topic", map[string]string{"room": "lobby"})
	fmt.Println(string(topic), err)
	_, err = client.Request(ctx, "room:topic", map[string]string{"room": "attic"})
	fmt.Println(err)
	// Output:
	// "lobby: say hello" <nil>
	// ROOM_NOT_FOUND: no room attic
}

// ExampleEnforces replaces middleware.Guard with a stage of the
// application's own. Start refuses a route whose guard no stage enforces;
// recorded with Enforces, the replacement stands in for the standard stage.
func ExampleEnforces() {
	// auditGuard runs the event's guard and logs each refusal.
	auditGuard := realtime.Enforces(func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if ep := c.Endpoint(); ep != nil && ep.Guard != nil && c.Kind() == realtime.KindEvent {
				if ok, err := ep.Guard(c); err != nil || !ok {
					c.Logger().Warn("refused", "event", c.Event())
					return realtime.ErrForbidden
				}
			}
			return next(c)
		}
	}, realtime.SettingGuard)

	admin := realtime.Event{
		Guard:   func(c *realtime.Ctx) (bool, error) { return c.UserID() == "root", nil },
		Handler: func(c *realtime.Ctx) error { return nil },
	}

	bare := realtime.New(realtime.Config{})
	bare.Handle("ban", admin)
	fmt.Println(bare.Start(context.Background()))

	mux := realtime.New(realtime.Config{})
	mux.Use(auditGuard)
	mux.Handle("ban", admin)
	fmt.Println(mux.Start(context.Background()))
	_ = mux.Shutdown(context.Background())
	// Output:
	// realtime: declared settings that no stage enforces (add the stage with Use, With or Group, or record a replacement with realtime.Enforces):
	//   - namespace / event "ban": Event.Guard is set but no stage in its chain enforces it; add middleware.Guard
	// <nil>
}
