package middleware_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

type address struct {
	Street string `json:"street"`
	City   string `json:"city"`
}

// Validate has a value receiver, so that invopop/validation runs it for a
// nested (non-pointer) field.
func (a address) Validate() error {
	return validation.ValidateStruct(&a,
		validation.Field(&a.Street, validation.Required),
		validation.Field(&a.City, validation.Required, validation.Length(2, 20)))
}

type profile struct {
	Name    string   `json:"name"`
	Address address  `json:"address"`
	Tags    []string `json:"tags"`
}

func (p profile) Validate() error {
	return validation.ValidateStruct(&p,
		validation.Field(&p.Name, validation.Required),
		validation.Field(&p.Address),
		validation.Field(&p.Tags, validation.Each(validation.Required, validation.Length(1, 5))))
}

// send sends one raw envelope with an ack id and returns the ack.
func send(t *testing.T, cl *realtimetest.Client, event, data string) realtimetest.Message {
	t.Helper()
	id := cl.NextAckID()
	env := fmt.Sprintf(`{"event":%q,"id":%d`, event, id)
	if data != "" {
		env += `,"data":` + data
	}
	if err := cl.SendRaw([]byte(env + "}")); err != nil {
		t.Fatal(err)
	}
	m, err := cl.WaitAck(testkit.Context(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Failure details name every failing field by its JSON name, nested fields
// (structs, slice elements) as nested objects; the handler does not run.
func TestValidateNestedDetails(t *testing.T) {
	var runs atomic.Int64
	after := &afterValidate{}
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Validate, after.stage)
	mux.Handle("save", realtime.Event{
		Schema: realtime.JSON[profile](),
		Handler: realtime.Typed(func(c *realtime.Ctx, p profile) error {
			runs.Add(1)
			return c.Ack(p.Address.City)
		}),
	})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	m := send(t, cl, "save", `{"name":"","address":{"street":"","city":"X"},"tags":["ok","","waytoolong"]}`)
	if m.Error == nil || m.Error.Code != realtime.CodeBadPayload || m.Error.Event != "save" {
		t.Fatalf("ack: %s", m.Raw)
	}
	want := map[string]any{
		"name": "cannot be blank",
		"address": map[string]any{
			"street": "cannot be blank",
			"city":   "the length must be between 2 and 20",
		},
		"tags": map[string]any{
			"1": "cannot be blank",
			"2": "the length must be between 1 and 5",
		},
	}
	if !reflect.DeepEqual(m.Error.Details, want) {
		got, _ := json.Marshal(m.Error.Details)
		t.Fatalf("details = %s", got)
	}
	// A type error names its field too.
	m = send(t, cl, "save", `{"name":"n","address":{"street":"s","city":42}}`)
	if m.Error == nil || m.Error.Code != realtime.CodeBadPayload || !strings.Contains(fmt.Sprint(m.Error.Details), "city") {
		t.Fatalf("type error ack: %s", m.Raw)
	}
	if runs.Load() != 0 {
		t.Fatalf("the handler ran %d times for invalid payloads", runs.Load())
	}
	m = send(t, cl, "save", `{"name":"n","address":{"street":"s","city":"Oslo"},"tags":["a"]}`)
	if m.Error != nil || string(m.Data) != `"Oslo"` || runs.Load() != 1 {
		t.Fatalf("valid payload: %s (runs %d)", m.Raw, runs.Load())
	}
	if after.reached.Load() != 1 || after.withValue.Load() != 1 {
		t.Fatalf("past Validate: %d events, %d with a value", after.reached.Load(), after.withValue.Load())
	}
}

// Unknown keys are ignored by default, as Zod does; DisallowUnknownFields
// refuses them (nested ones too) with BAD_PAYLOAD naming the key.
func TestValidateUnknownFields(t *testing.T) {
	var strictRuns, lenientRuns atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Validate)
	mux.Handle("strict", realtime.Event{
		Schema: realtime.JSON[profile](realtime.DisallowUnknownFields()),
		Handler: realtime.Typed(func(c *realtime.Ctx, p profile) error {
			strictRuns.Add(1)
			return c.Ack(p.Name)
		}),
	})
	mux.Handle("lenient", realtime.Event{
		Schema: realtime.JSON[profile](),
		Handler: realtime.Typed(func(c *realtime.Ctx, p profile) error {
			lenientRuns.Add(1)
			return c.Ack(p.Name)
		}),
	})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	const (
		topUnknown    = `{"name":"n","isAdmin":true,"address":{"street":"s","city":"Oslo"}}`
		nestedUnknown = `{"name":"n","address":{"street":"s","city":"Oslo","zip":"0150"}}`
	)
	for _, tc := range []struct{ data, key string }{{topUnknown, "isAdmin"}, {nestedUnknown, "zip"}} {
		m := send(t, cl, "strict", tc.data)
		if m.Error == nil || m.Error.Code != realtime.CodeBadPayload || !strings.Contains(m.Error.Message, tc.key) {
			t.Fatalf("strict with %s: %s", tc.key, m.Raw)
		}
		m = send(t, cl, "lenient", tc.data)
		if m.Error != nil || string(m.Data) != `"n"` {
			t.Fatalf("lenient with %s: %s", tc.key, m.Raw)
		}
	}
	if strictRuns.Load() != 0 || lenientRuns.Load() != 2 {
		t.Fatalf("runs: strict %d, lenient %d", strictRuns.Load(), lenientRuns.Load())
	}
	m := send(t, cl, "strict", `{"name":"n","address":{"street":"s","city":"Oslo"}}`)
	if m.Error != nil || strictRuns.Load() != 1 {
		t.Fatalf("strict with known keys only: %s", m.Raw)
	}
}

// tagSchema is a realtime.Schema in the style of go-playground/validator:
// rules in struct tags, `check:"required,min=3,max=20"`. It is written here
// to show that other validators plug in through the same interface as the
// default one, with the Validate stage and realtime.Typed unchanged.
type tagSchema[T any] struct {
	parses *atomic.Int64
}

func (s tagSchema[T]) Parse(data json.RawMessage) (any, error) {
	s.parses.Add(1)
	var v T
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			// A plain error: the stage makes it BAD_PAYLOAD with the text.
			return nil, fmt.Errorf("tagschema: %v", err)
		}
	}
	rv := reflect.ValueOf(v)
	details := map[string]any{}
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		fv := rv.Field(i)
		for _, rule := range strings.Split(f.Tag.Get("check"), ",") {
			key, arg, _ := strings.Cut(rule, "=")
			n, _ := strconv.Atoi(arg)
			size := 0
			switch fv.Kind() {
			case reflect.String:
				size = len(fv.String())
			case reflect.Int:
				size = int(fv.Int())
			}
			var msg string
			switch {
			case key == "required" && fv.IsZero():
				msg = "is required"
			case key == "min" && size < n:
				msg = "must be at least " + arg
			case key == "max" && size > n:
				msg = "must be at most " + arg
			}
			if msg != "" {
				details[name] = msg
				break
			}
		}
	}
	if len(details) > 0 {
		return nil, realtime.NewError(realtime.CodeBadPayload, "validation failed", details)
	}
	return v, nil
}

type signup struct {
	Username string `json:"username" check:"required,min=3,max=12"`
	Age      int    `json:"age" check:"required,min=13"`
	Bio      string `json:"bio" check:"max=10"`
}

// afterValidate is a stage placed after Validate: it counts the events that
// get past it and those that carry a validated value there.
type afterValidate struct{ reached, withValue atomic.Int64 }

func (a *afterValidate) stage(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		if c.Kind() == realtime.KindEvent {
			a.reached.Add(1)
			if _, set := c.Value(); set {
				a.withValue.Add(1)
			}
		}
		return next(c)
	}
}

// Another validator through the same Schema interface: its field errors
// reach the client as they are, a plain error becomes BAD_PAYLOAD, invalid
// events stop at the stage, and the Typed handler gets the value the stage
// produced without parsing again.
func TestValidateCustomSchemaAdapter(t *testing.T) {
	var parses, runs atomic.Int64
	after := &afterValidate{}
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Validate, after.stage)
	mux.Route(realtime.Route{Events: map[string]realtime.Event{
		"signup": {
			Schema: tagSchema[signup]{&parses},
			Handler: realtime.Typed(func(c *realtime.Ctx, s signup) error {
				runs.Add(1)
				return c.Ack(fmt.Sprintf("%s/%d", s.Username, s.Age))
			}),
		},
	}})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	m := send(t, cl, "signup", `{"username":"al","bio":"far too long for a bio"}`)
	want := map[string]any{"username": "must be at least 3", "age": "is required", "bio": "must be at most 10"}
	if m.Error == nil || m.Error.Code != realtime.CodeBadPayload || m.Error.Message != "validation failed" ||
		!reflect.DeepEqual(m.Error.Details, want) || m.Error.RequestID == "" {
		t.Fatalf("invalid signup: %s", m.Raw)
	}
	m = send(t, cl, "signup", `["not","an","object"]`)
	if m.Error == nil || m.Error.Code != realtime.CodeBadPayload || !strings.HasPrefix(m.Error.Message, "invalid payload: tagschema:") {
		t.Fatalf("plain schema error: %s", m.Raw)
	}
	if runs.Load() != 0 {
		t.Fatal("the handler ran for invalid payloads")
	}
	m = send(t, cl, "signup", `{"username":"alice","age":30}`)
	if m.Error != nil || string(m.Data) != `"alice/30"` {
		t.Fatalf("valid signup: %s", m.Raw)
	}
	if parses.Load() != 3 || runs.Load() != 1 {
		t.Fatalf("%d parses for 3 events (Typed must not parse again), %d runs", parses.Load(), runs.Load())
	}
	if after.reached.Load() != 1 || after.withValue.Load() != 1 {
		t.Fatalf("past Validate: %d events, %d with a value; want only the valid one, with its value",
			after.reached.Load(), after.withValue.Load())
	}
}

// Events without a schema, unknown events, and connects and disconnects
// pass Validate untouched: no value is set and the data is as sent.
func TestValidateSkips(t *testing.T) {
	type seen struct {
		kind     realtime.Kind
		valueSet bool
	}
	lifecycle := make(chan seen, 2)
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Validate)
	mux.OnConnect(func(c *realtime.Ctx) error {
		_, set := c.Value()
		lifecycle <- seen{c.Kind(), set}
		return nil
	})
	mux.OnDisconnect(func(c *realtime.Ctx) error {
		_, set := c.Value()
		lifecycle <- seen{c.Kind(), set}
		return nil
	})
	mux.On("raw", func(c *realtime.Ctx) error {
		if _, set := c.Value(); set {
			return errors.New("a value was set for an event without schema")
		}
		return c.Ack(json.RawMessage(c.Data()))
	})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	if s := <-lifecycle; s.kind != realtime.KindConnect || s.valueSet {
		t.Fatalf("connect: %+v", s)
	}
	for _, data := range []string{`{"anything":[1,2,{"x":null}]}`, `"text"`, `12.5`} {
		m := send(t, cl, "raw", data)
		if m.Error != nil || string(m.Data) != data {
			t.Fatalf("raw %s: %s", data, m.Raw)
		}
	}
	m := send(t, cl, "nope", `{"a":1}`)
	if m.Error == nil || m.Error.Code != realtime.CodeUnknownEvent {
		t.Fatalf("unknown event: %s", m.Raw)
	}
	cl.Close()
	if s := <-lifecycle; s.kind != realtime.KindDisconnect || s.valueSet {
		t.Fatalf("disconnect: %+v", s)
	}
}

// The value of a JSON schema is the schema's T wherever it is read: a stage
// after Validate gets a T from Value (twice the same), a Typed handler of T
// and one of any get it (with Value read before or not), and a Typed
// handler of another type is an INTERNAL_ERROR that never runs.
func TestValidateJSONValueIsT(t *testing.T) {
	var runs atomic.Int64
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID, middleware.Validate, func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() != realtime.KindEvent || c.Event() == "typed" {
				return next(c)
			}
			v, set := c.Value()
			again, _ := c.Value()
			if p, ok := v.(profile); !set || !ok || p.Name != "ann" || !reflect.DeepEqual(v, again) {
				return fmt.Errorf("value after Validate: %#v (set %v), then %#v", v, set, again)
			}
			return next(c)
		}
	})
	const data = `{"name":"ann","address":{"street":"Main","city":"Oslo"}}`
	mux.Route(realtime.Route{Events: map[string]realtime.Event{
		"typed": {Schema: realtime.JSON[profile](), Handler: realtime.Typed(func(c *realtime.Ctx, p profile) error {
			runs.Add(1)
			return c.Ack(p.Address.City)
		})},
		"read": {Schema: realtime.JSON[profile](), Handler: realtime.Typed(func(c *realtime.Ctx, p profile) error {
			runs.Add(1)
			return c.Ack(p.Name)
		})},
		"any": {Schema: realtime.JSON[profile](), Handler: realtime.Typed(func(c *realtime.Ctx, v any) error {
			runs.Add(1)
			return c.Ack(fmt.Sprintf("%T", v))
		})},
		"other": {Schema: realtime.JSON[profile](), Handler: realtime.Typed(func(c *realtime.Ctx, a address) error {
			runs.Add(1)
			return nil
		})},
	}})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	if m := send(t, cl, "typed", data); m.Error != nil || string(m.Data) != `"Oslo"` {
		t.Fatalf("typed: %s", m.Raw)
	}
	if m := send(t, cl, "read", data); m.Error != nil || string(m.Data) != `"ann"` {
		t.Fatalf("read: %s", m.Raw)
	}
	if m := send(t, cl, "any", data); m.Error != nil || string(m.Data) != `"middleware_test.profile"` {
		t.Fatalf("any: %s", m.Raw)
	}
	if m := send(t, cl, "other", data); m.Error == nil || m.Error.Code != realtime.CodeInternal {
		t.Fatalf("other: %s", m.Raw)
	}
	if runs.Load() != 3 {
		t.Fatalf("%d handler runs, want 3", runs.Load())
	}
}
