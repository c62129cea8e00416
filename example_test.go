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
