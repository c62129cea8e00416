package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// BinaryKey is the object key that marks encoded bytes in a message's JSON
// until the wire format is chosen: {"_lolybin":"<base64>"}. realtime.Binary
// encodes itself so; each codec turns the mark into its own form of binary.
const BinaryKey = "_lolybin"

// AppendBinary appends the mark of b.
func AppendBinary(dst, b []byte) []byte {
	dst = append(dst, `{"`+BinaryKey+`":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, `"}`...)
}

// HasBinary reports whether data may hold a binary mark.
func HasBinary(data []byte) bool { return bytes.Contains(data, []byte(`"`+BinaryKey+`"`)) }

// WalkBinary rebuilds a JSON value, replacing each binary mark with what
// replace returns for its bytes. It returns data unchanged when it is not
// valid JSON.
func WalkBinary(data []byte, replace func([]byte) any) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return data
	}
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			if s, ok := t[BinaryKey].(string); ok && len(t) == 1 {
				raw, err := base64.StdEncoding.DecodeString(s)
				if err == nil {
					return replace(raw)
				}
			}
			for k, e := range t {
				t[k] = walk(e)
			}
		case []any:
			for i, e := range t {
				t[i] = walk(e)
			}
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		return data
	}
	return out
}

// NativeBinary replaces binary marks with base64 strings, the form bytes
// take in the native protocol's JSON.
func NativeBinary(data []byte) []byte {
	return WalkBinary(data, func(raw []byte) any { return base64.StdEncoding.EncodeToString(raw) })
}
