// Package payload decodes the data of events into the values handlers take,
// and tells what is wrong with data that does not decode or validate in the
// terms of the protocol rather than of Go: which field, and what it must be.
package payload

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

// Decode decodes data into v and returns the decoder's error. Binary marks
// are read as base64 strings, which []byte and Binary fields decode.
//
// Data is decoded by github.com/segmentio/encoding/json, about four times
// as fast as encoding/json on small objects with half the allocations. Its
// errors name fields differently (slice indexes and map keys in the path, a
// time that does not parse as a type error), so data it refuses is decoded
// again by encoding/json, whose error is returned, as it always was.
func Decode(data []byte, v any, disallowUnknown bool) error {
	data = wire.NativeBinary(data)
	if fastDecode(data, v, disallowUnknown) == nil {
		return nil
	}
	if disallowUnknown {
		// Only a Decoder can refuse unknown fields; it costs a buffer.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err := dec.Decode(v)
		if err == nil && dec.More() {
			err = errors.New("unexpected data after the JSON value")
		}
		return err
	}
	return json.Unmarshal(data, v)
}

// fastDecode is Decode's first try.
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

// IsTypeError reports whether err is a value of the wrong JSON type, which
// Describe names by its field even when a field's own decoder returned it.
func IsTypeError(err error) bool {
	var typeErr *json.UnmarshalTypeError
	return errors.As(err, &typeErr)
}

// Describe returns what the client is told of an error of Decode: a
// message, and details mapping the field at fault to what is wrong with it
// (nil when no field is named).
//
// encoding/json's own texts ("json: unknown field ...", a time that does
// not parse) describe Go types, not the protocol: the client gets the field
// when one is named, and the text is left for logs.
func Describe(err error) (string, map[string]any) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return fmt.Sprintf("data must be %s", jsonKind(typeErr.Type.Kind().String())), nil
		}
		return "invalid payload", map[string]any{field: "must be " + jsonKind(typeErr.Type.Kind().String())}
	}
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if field, uerr := strconv.Unquote(quoted); uerr == nil && len(field) <= wire.MaxEventNameBytes {
			return "invalid payload: unknown field " + quoted, map[string]any{field: "is not allowed"}
		}
		return "invalid payload: unknown field", nil
	}
	return "invalid payload", nil
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

// Fields returns, for an error of github.com/invopop/validation, details
// mapping each field to its message, nested fields as nested objects; false
// for any other error.
func Fields(err error) (map[string]any, bool) {
	var fields validation.Errors
	if !errors.As(err, &fields) {
		return nil, false
	}
	return fieldDetails(fields), true
}

func fieldDetails(fields validation.Errors) map[string]any {
	out := make(map[string]any, len(fields))
	for k, err := range fields {
		var nested validation.Errors
		if errors.As(err, &nested) {
			out[k] = fieldDetails(nested)
		} else {
			out[k] = err.Error()
		}
	}
	return out
}
