package realtime

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lolyjs/realtime/internal/payload"
)

// Schema turns an event's raw JSON data into a typed, validated value. It is
// the adapter between the router and a validation library: JSON (below)
// covers github.com/invopop/validation and plain structs; other validators
// implement Parse themselves.
//
// Parse returns the value the handler will receive, or an error. An *Error is
// sent as it is; any other error becomes BAD_PAYLOAD, with the error text as
// its message. Implementations must be safe for concurrent use.
type Schema interface {
	Parse(data json.RawMessage) (any, error)
}

// SchemaOption configures JSON.
type SchemaOption func(*schemaOptions)

type schemaOptions struct {
	disallowUnknown bool
}

// DisallowUnknownFields makes JSON refuse data with object keys that T does
// not declare. By default they are ignored.
func DisallowUnknownFields() SchemaOption {
	return func(o *schemaOptions) { o.disallowUnknown = true }
}

// JSON returns a Schema that decodes the data into a T and, when T (or *T)
// has a Validate() error method, such as one written with
// github.com/invopop/validation, runs it. Validation errors become
// BAD_PAYLOAD with details mapping each field (by its json name) to its
// message, nested fields as nested objects.
//
// Missing data decodes as JSON null, so a struct's Validate sees its zero
// value and Required rules report the missing fields.
//
// Validate runs on every event: build its rules once, in package
// variables, rather than in the method, where github.com/invopop/validation
// would build them (error messages included) on every call:
//
//	var roomRules = []validation.Rule{validation.Required, validation.Length(1, 32)}
//
//	func (m join) Validate() error {
//		return validation.ValidateStruct(&m, validation.Field(&m.Room, roomRules...))
//	}
func JSON[T any](opts ...SchemaOption) Schema {
	var o schemaOptions
	for _, opt := range opts {
		opt(&o)
	}
	return jsonSchema[T]{opts: o}
}

type jsonSchema[T any] struct {
	opts schemaOptions
}

type validatable interface{ Validate() error }

func (s jsonSchema[T]) Parse(data json.RawMessage) (any, error) {
	v, err := s.parse(data)
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// parse decodes and validates data into a new T.
func (s jsonSchema[T]) parse(data json.RawMessage) (*T, error) {
	v := new(T)
	if len(data) > 0 {
		if err := decodeJSON(data, v, s.opts.disallowUnknown); err != nil {
			return nil, err
		}
	}
	// *T has T's methods too; asking the pointer does not copy the value
	// into an interface as asking the value would.
	if val, ok := any(v).(validatable); ok {
		if err := val.Validate(); err != nil {
			return nil, PayloadError(err)
		}
	}
	return v, nil
}

// refSchema is a Schema that gives its value by reference, a *T holding
// what Parse would return, so that the Ctx keeps the value without copying
// it into an interface; deref turns the reference into the value.
type refSchema interface {
	parseRef(data json.RawMessage) (any, error)
	deref(ref any) any
}

func (s jsonSchema[T]) parseRef(data json.RawMessage) (any, error) {
	v, err := s.parse(data)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (jsonSchema[T]) deref(ref any) any { return *ref.(*T) }

// ParseData runs schema on the event's data and keeps the value it gives
// for the handler, where Value and Typed read it: the Validate stage calls
// it. A failure is returned as a BAD_PAYLOAD *Error (see PayloadError) and
// keeps nothing. The value of a JSON schema is kept by reference until Value
// asks for it, so that a Typed handler takes it without a copy.
func (c *Ctx) ParseData(schema Schema) error {
	if rs, ok := schema.(refSchema); ok {
		ref, err := rs.parseRef(c.data)
		if err != nil {
			return PayloadError(err)
		}
		c.value, c.valueSet, c.valueRef = ref, true, rs
		return nil
	}
	v, err := schema.Parse(c.data)
	if err != nil {
		return PayloadError(err)
	}
	c.SetValue(v)
	return nil
}

// decodeJSON decodes data into v (see internal/payload) and reports
// failures as BAD_PAYLOAD with a field-level detail where the decoder names
// the field. An *Error that a field's own decoder returned is kept as it is.
func decodeJSON(data []byte, v any, disallowUnknown bool) error {
	err := payload.Decode(data, v, disallowUnknown)
	if err == nil {
		return nil
	}
	var e *Error
	if !payload.IsTypeError(err) && errors.As(err, &e) {
		return e
	}
	msg, details := payload.Describe(err)
	out := &Error{Code: CodeBadPayload, Message: msg, Cause: err}
	if details != nil {
		out.Details = details
	}
	return out
}

// PayloadError turns a validation error into a BAD_PAYLOAD *Error. Errors from
// github.com/invopop/validation become details mapping each field to its
// message (nested objects for nested fields); an *Error is returned as it is;
// any other error becomes the message.
func PayloadError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if details, ok := payload.Fields(err); ok {
		return &Error{Code: CodeBadPayload, Message: "invalid payload", Details: details, Cause: err}
	}
	return &Error{Code: CodeBadPayload, Message: "invalid payload: " + err.Error(), Cause: err}
}

// Typed adapts a handler that takes its data as a T. The value comes from the
// Validate stage when it ran the event's schema; otherwise Typed runs the
// event's schema itself (or JSON[T] when the event has none), so a handler
// never sees unvalidated data even without the Validate stage. A Typed
// handler therefore enforces its event's Schema itself (see SettingSchema).
//
// With a JSON[T] schema the value goes from the decoder to fn without a
// copy into an interface; the schema's Validate is then most of the cost of
// the event (see JSON for writing it cheaply).
func Typed[T any](fn func(c *Ctx, data T) error) Handler {
	fallback := JSON[T]()
	return enforcesSchema(func(c *Ctx) error {
		if t, ok := typedValue[T](c); ok {
			return fn(c, t)
		}
		schema := fallback
		if c.endpoint != nil && c.endpoint.Schema != nil {
			schema = c.endpoint.Schema
		}
		if err := c.ParseData(schema); err != nil {
			return err
		}
		t, ok := typedValue[T](c)
		if !ok {
			v, _ := c.Value()
			return &Error{Code: CodeInternal, Message: ErrInternal.Message,
				Cause: fmt.Errorf("realtime: event %q: schema gives %T, handler takes %T", c.event, v, *new(T))}
		}
		return fn(c, t)
	})
}

// typedValue returns the Ctx's value as a T, when it has one that is.
func typedValue[T any](c *Ctx) (T, bool) {
	if !c.valueSet {
		return *new(T), false
	}
	if p, ok := c.value.(*T); ok && c.valueRef != nil {
		return *p, true
	}
	v, _ := c.Value()
	t, ok := v.(T)
	return t, ok
}
