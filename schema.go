package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/invopop/validation"
	fastjson "github.com/segmentio/encoding/json"

	"github.com/lolyjs/realtime/internal/wire"
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

// decodeJSON decodes data into v and reports failures as BAD_PAYLOAD with a
// field-level detail where encoding/json names the field. Binary marks are
// read as base64 strings, which []byte and Binary fields decode.
//
// Data is decoded by github.com/segmentio/encoding/json, about four times
// as fast as encoding/json on small objects with half the allocations. Its
// errors name fields differently (slice indexes and map keys in the path, a
// time that does not parse as a type error), so data it refuses is decoded
// again by encoding/json, whose error the client gets, as it always did.
func decodeJSON(data []byte, v any, disallowUnknown bool) error {
	data = wire.NativeBinary(data)
	if fastDecode(data, v, disallowUnknown) == nil {
		return nil
	}
	var err error
	if disallowUnknown {
		// Only a Decoder can refuse unknown fields; it costs a buffer.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && dec.More() {
			err = errors.New("unexpected data after the JSON value")
		}
	} else {
		err = json.Unmarshal(data, v)
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return &Error{Code: CodeBadPayload, Message: fmt.Sprintf("data must be %s", jsonKind(typeErr.Type.Kind().String())), Cause: err}
		}
		return &Error{Code: CodeBadPayload, Message: "invalid payload", Cause: err,
			Details: map[string]any{field: "must be " + jsonKind(typeErr.Type.Kind().String())}}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	// encoding/json's own texts ("json: unknown field ...", a time that
	// does not parse) describe Go types, not the protocol: the client gets
	// the field when one is named, and the text stays in Cause for logs.
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if field, uerr := strconv.Unquote(quoted); uerr == nil && len(field) <= MaxEventNameBytes {
			return &Error{Code: CodeBadPayload, Message: "invalid payload: unknown field " + quoted, Cause: err,
				Details: map[string]any{field: "is not allowed"}}
		}
		return &Error{Code: CodeBadPayload, Message: "invalid payload: unknown field", Cause: err}
	}
	return &Error{Code: CodeBadPayload, Message: "invalid payload", Cause: err}
}

// fastDecode is decodeJSON's first try.
func fastDecode(data []byte, v any, disallowUnknown bool) error {
	if !disallowUnknown {
		return fastjson.Unmarshal(data, v)
	}
	rest, err := fastjson.Parse(data, v, fastjson.DisallowUnknownFields)
	if err == nil && len(rest) > 0 {
		return errors.New("unexpected data after the JSON value")
	}
	return err
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "of type " + goKind
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
	var fields validation.Errors
	if errors.As(err, &fields) {
		return &Error{Code: CodeBadPayload, Message: "invalid payload", Details: validationDetails(fields), Cause: err}
	}
	return &Error{Code: CodeBadPayload, Message: "invalid payload: " + err.Error(), Cause: err}
}

func validationDetails(fields validation.Errors) map[string]any {
	out := make(map[string]any, len(fields))
	for k, err := range fields {
		var nested validation.Errors
		if errors.As(err, &nested) {
			out[k] = validationDetails(nested)
		} else {
			out[k] = err.Error()
		}
	}
	return out
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
