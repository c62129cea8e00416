// Package check holds the checks of what an application registers with a
// mux: namespace and event names, and the list of problems in route
// definitions, which the mux reports at once when it starts; and the close
// an application asks for. Each check returns what is wrong, naming the
// fix, or "".
package check

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lolyjs/realtime/internal/wire"
)

// Problems collects the problems of route definitions.
type Problems struct {
	list []string
}

// Add records a problem at where.
func (p *Problems) Add(where, format string, args ...any) {
	p.list = append(p.list, where+": "+fmt.Sprintf(format, args...))
}

// Len returns how many problems were recorded.
func (p *Problems) Len() int { return len(p.list) }

// Err returns every problem in one error, one a line, or nil.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return errors.New("realtime: invalid routes:\n  - " + strings.Join(p.list, "\n  - "))
}

// EventName returns what is wrong with an event name, or "".
func EventName(name string) string {
	switch {
	case name == "":
		return "event name is empty"
	case len(name) > wire.MaxEventNameBytes:
		return fmt.Sprintf("event name is %d bytes; the limit is %d", len(name), wire.MaxEventNameBytes)
	case strings.HasPrefix(name, wire.ReservedPrefix):
		return fmt.Sprintf("event name %q uses the reserved prefix %q; rename it", name, wire.ReservedPrefix)
	case strings.HasPrefix(name, "$"):
		return fmt.Sprintf("event name %q starts with \"$\", which is reserved for lifecycle events; use Route.OnConnect or OnDisconnect, or rename it", name)
	}
	return ""
}

// Namespace returns what is wrong with a namespace name, or "".
func Namespace(ns string) string {
	if !strings.HasPrefix(ns, "/") {
		return fmt.Sprintf("namespace %q must start with \"/\"", ns)
	}
	if strings.ContainsAny(ns, "?#") || strings.Contains(ns, "//") {
		return fmt.Sprintf("namespace %q is not a clean URL path", ns)
	}
	if len(ns) > 1 && strings.HasSuffix(ns, "/") {
		// The mux trims the slash from the request path, so no client
		// could ever reach this namespace.
		return fmt.Sprintf("namespace %q ends with \"/\"; clients reach it as %q, so name it that", ns, strings.TrimRight(ns, "/"))
	}
	if strings.Contains(ns, ":") {
		// Cluster topics are "room:<ns>:<room>" and "user:<ns>:<id>": a
		// colon in a namespace would let room "b:x" of /a and room "x" of
		// /a:b share a topic, and emits cross namespaces.
		return fmt.Sprintf("namespace %q holds a \":\", which cluster topics use as a separator; use another character", ns)
	}
	if !utf8.ValidString(ns) || strings.IndexFunc(ns, unicode.IsControl) >= 0 {
		return fmt.Sprintf("namespace %q holds control characters or invalid UTF-8", ns)
	}
	return ""
}

// IsNil reports whether v is nil, or an interface holding a nil pointer,
// map, slice, function or channel.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// Close returns what is wrong with the close code and reason of a
// disconnect an application asks for, or "": the code must be one an
// application may choose (1000, 1001, 1008, 1011, 1013, or 4000 to 4999),
// the reason at most 123 bytes of UTF-8, as a close frame carries.
func Close(code uint16, reason string) string {
	switch code {
	case 1000, 1001, 1008, 1011, 1013:
	default:
		if code < 4000 || code > 4999 {
			return fmt.Sprintf("Disconnect with close code %d: choose 1000, 1001, 1008, 1011, 1013, or 4000 to 4999", code)
		}
	}
	if len(reason) > 123 || !utf8.ValidString(reason) {
		return "Disconnect reason must be valid UTF-8 of at most 123 bytes"
	}
	return ""
}
