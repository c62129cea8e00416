package realtime_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// nilSchema is a Schema type used as a typed nil.
type nilSchema struct{}

func (*nilSchema) Parse(json.RawMessage) (any, error) { return nil, nil }

func TestRouteProblemsReportedTogether(t *testing.T) {
	noop := func(c *realtime.Ctx) error { return nil }
	mux := realtime.New(quiet(realtime.Config{PingInterval: -1}))
	mux.Route(realtime.Route{Namespace: "/empty"})
	mux.Route(realtime.Route{Namespace: "/bad", Events: map[string]realtime.Event{
		"":                       {Handler: noop},
		"__loly:x":               {Handler: noop},
		"$x":                     {Handler: noop},
		strings.Repeat("n", 129): {Handler: noop},
		"nohandler":              {},
		"zerorate":               {Handler: noop, RateLimit: &realtime.Rate{EventsPerSecond: 0}},
		"negrate":                {Handler: noop, RateLimit: &realtime.Rate{EventsPerSecond: -1}},
		"nilschema":              {Handler: noop, Schema: (*nilSchema)(nil)},
		"fine":                   {Handler: noop},
	}})
	mux.Route(realtime.Route{Namespace: "/dup", Events: map[string]realtime.Event{"a": {Handler: noop}}})
	mux.Route(realtime.Route{Namespace: "/dup", Events: map[string]realtime.Event{"b": {Handler: noop}}})
	mux.Route(realtime.Route{Namespace: "nope", Events: map[string]realtime.Event{"a": {Handler: noop}}})

	err := mux.Start(bg())
	if err == nil {
		t.Fatal("Start accepted invalid routes")
	}
	msg := err.Error()
	for _, want := range []string{
		"route /empty: Events is empty",
		`route /bad event "": event name is empty`,
		`route /bad event "__loly:x": event name "__loly:x" uses the reserved prefix`,
		`route /bad event "$x": event name "$x" starts with "$"`,
		"event name is 129 bytes; the limit is 128",
		`route /bad event "nohandler": Handler is nil`,
		`route /bad event "zerorate": RateLimit.EventsPerSecond is 0`,
		`route /bad event "negrate": RateLimit.EventsPerSecond is -1`,
		`route /bad event "nilschema": Schema is a nil *realtime_test.nilSchema`,
		"route /dup: namespace is defined by two routes",
		`namespace "nope" must start with "/"`,
		`PingInterval is -1ns`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, `"fine"`) {
		t.Errorf("a valid event is reported:\n%s", msg)
	}
	if again := mux.Start(bg()); again == nil || again.Error() != msg {
		t.Errorf("a second Start returned %v", again)
	}

	// No socket is served while the routes are invalid.
	hs := httptest.NewServer(mux)
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/wss/bad")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	if _, err := realtimetest.Dial(testkit.Context(t), "ws"+strings.TrimPrefix(hs.URL, "http")+"/wss/bad", nil); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("dial: %v, want HTTP 500", err)
	}
}

func TestRouteConflictsWithOn(t *testing.T) {
	noop := func(c *realtime.Ctx) error { return nil }
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Namespace("/chat", func(r *realtime.Mux) { r.On("send", noop) })
	mux.Route(realtime.Route{Namespace: "/chat", Events: map[string]realtime.Event{"send": {Handler: noop}}})
	err := mux.Start(bg())
	if err == nil || !strings.Contains(err.Error(), "route /chat") {
		t.Fatalf("Start: %v, want the /chat conflict", err)
	}
}

type address struct {
	City string `json:"city"`
	Zip  string `json:"zip"`
}

func (a address) Validate() error {
	return validation.ValidateStruct(&a,
		validation.Field(&a.City, validation.Required),
		validation.Field(&a.Zip, validation.Required, validation.Length(5, 5)))
}

type signup struct {
	Name    string  `json:"name"`
	Age     int     `json:"age"`
	Address address `json:"address"`
}

func (s signup) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.Name, validation.Required),
		validation.Field(&s.Age, validation.Min(18)),
		validation.Field(&s.Address))
}

func TestRouteEndToEnd(t *testing.T) {
	var connected, disconnected trail
	done := make(chan struct{})
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.Route(realtime.Route{
		Namespace: "/signup",
		OnConnect: func(c *realtime.Ctx) error {
			if c.Route() == nil || c.Route().Namespace != "/signup" {
				return errors.New("no route on the Ctx")
			}
			connected.add(c.SocketID())
			return nil
		},
		OnDisconnect: func(c *realtime.Ctx) error { disconnected.add(c.SocketID()); close(done); return nil },
		Events: map[string]realtime.Event{
			"signup": {
				Schema: realtime.JSON[signup](),
				Handler: realtime.Typed(func(c *realtime.Ctx, s signup) error {
					return c.Ack(map[string]any{"welcome": s.Name, "city": s.Address.City})
				}),
			},
			"echo": {Handler: func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) }},
		},
	})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/signup")

	got, err := cl.Request(testkit.Context(t), "signup", signup{Name: "Ada", Age: 36, Address: address{City: "London", Zip: "12345"}})
	if err != nil || string(got) != `{"city":"London","welcome":"Ada"}` {
		t.Fatalf("valid signup: %s, %v", got, err)
	}

	_, err = cl.Request(testkit.Context(t), "signup", map[string]any{"age": 12, "address": map[string]any{"zip": "1"}})
	var e *realtime.Error
	if !errors.As(err, &e) || e.Code != realtime.CodeBadPayload || e.Event != "signup" {
		t.Fatalf("invalid signup: %v, want BAD_PAYLOAD", err)
	}
	wantDetails := map[string]any{
		"name": "cannot be blank",
		"age":  "must be no less than 18",
		"address": map[string]any{
			"city": "cannot be blank",
			"zip":  "the length must be exactly 5",
		},
	}
	if !reflect.DeepEqual(e.Details, wantDetails) {
		t.Fatalf("details %#v, want %#v", e.Details, wantDetails)
	}
	if ev := waitError(t, cl); ev.Code != realtime.CodeBadPayload || !reflect.DeepEqual(ev.Details, wantDetails) {
		t.Fatalf("__loly:error %+v", ev)
	}

	// Missing data is validated too, as the zero value.
	_, err = cl.Request(testkit.Context(t), "signup", nil)
	if !errors.As(err, &e) || e.Code != realtime.CodeBadPayload {
		t.Fatalf("signup without data: %v", err)
	}

	cl.Close()
	receive(t, done, "the route's OnDisconnect")
	if c, d := connected.get(), disconnected.get(); len(c) != 1 || !reflect.DeepEqual(c, d) {
		t.Fatalf("OnConnect saw %v, OnDisconnect %v", c, d)
	}
}
