package realtime

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/lolyjs/realtime/internal/check"
)

// Route is the declarative form of one namespace, the Go form of loly's
// defineWssRoute: who may connect, what happens on connect and disconnect,
// and each event with its handler and settings. Register it with Mux.Route;
// the mux checks it, with every other route, before it serves a socket.
type Route struct {
	// Namespace is the namespace the route serves, like "/chat" (default "/"):
	// a clean URL path without a trailing slash, a colon (cluster topics use
	// it as a separator) or control characters.
	Namespace string
	// Auth, when set, replaces the mux-level auth hook for this namespace
	// (see middleware.Auth).
	Auth AuthFunc
	// Guard, when set, must allow every event of the route, connects
	// included (see middleware.Guard).
	Guard GuardFunc
	// OnConnect runs when a socket has joined the namespace, after the
	// middleware (Auth included) accepted it. Returning an error refuses the
	// socket.
	OnConnect Handler
	// OnDisconnect runs when a socket leaves; Ctx.DisconnectReason says why.
	OnDisconnect Handler
	// Events maps each event name to its definition. Names are
	// case-sensitive, 1 to 128 bytes, and may not start with "__loly:" or "$".
	Events map[string]Event
	// History, when its Size is positive, keeps the last messages of every
	// room of the namespace, so that a client that reconnects, on any
	// instance, gets its rooms back and what it missed, in order, then the
	// live messages, with no duplicates (see docs/protocol.md, "Recovery",
	// and Ctx.Recovered); and Ctx.History pages through them. Messages to
	// the namespace or to users are not kept.
	History History
	// RoomHistory, when set, chooses the history of each room instead of
	// History (a zero Size keeps none for that room).
	RoomHistory func(room string) History
	// Presence, when set, tells the members of the rooms it picks who joins
	// and leaves them (see Presence).
	Presence *Presence
}

// Event defines one client event: its handler and the per-event settings that
// the generic middleware stages read through Ctx.Endpoint. Start fails when a
// setting has no stage in the event's chain that enforces it (see Enforces).
type Event struct {
	// Handler runs the event. Required.
	Handler Handler
	// Schema, when set, validates the data before the handler runs (see
	// middleware.Validate and Bind).
	Schema Schema
	// Guard, when set, must allow the event (see middleware.Guard).
	Guard GuardFunc
	// RateLimit, when set, is this event's own limit per socket (see
	// middleware.RateLimit).
	RateLimit *Rate
}

// Rate is a token bucket: EventsPerSecond refill, up to Burst at once.
type Rate struct {
	EventsPerSecond float64
	// Burst is the bucket size (default: EventsPerSecond rounded up, at
	// least 1; middleware.RateLimitOpts.BurstFactor scales it, and loly's
	// was twice EventsPerSecond).
	Burst int
}

// User is who a socket acts as, bound once at connect by the Auth stage.
// ID is what ToUser and presence use; Info is the application's own value.
type User struct {
	ID   string
	Info any
}

// AuthFunc authenticates a connecting socket from its handshake (Ctx.Request
// for headers, cookies, query and address). It returns the user, nil for an
// anonymous socket, or an error to refuse the connection (UNAUTHORIZED unless
// it is an *Error with another code).
type AuthFunc func(c *Ctx) (*User, error)

// GuardFunc allows or denies an event. A false result is FORBIDDEN; an error
// is reported as it is.
type GuardFunc func(c *Ctx) (bool, error)

// checkEvent returns the problems of one event definition.
func checkEvent(name string, e Event) []string {
	var out []string
	if msg := check.EventName(name); msg != "" {
		out = append(out, msg)
	}
	if e.Handler == nil {
		out = append(out, "Handler is nil; every event needs a handler")
	}
	if e.Schema != nil && check.IsNil(e.Schema) {
		out = append(out, "Schema is a nil "+reflect.TypeOf(e.Schema).String()+"; give a schema such as realtime.JSON[T]() or leave Schema unset")
	}
	if e.RateLimit != nil {
		if !(e.RateLimit.EventsPerSecond > 0) {
			out = append(out, fmt.Sprintf("RateLimit.EventsPerSecond is %v; it must be positive", e.RateLimit.EventsPerSecond))
		}
		if e.RateLimit.Burst < 0 {
			out = append(out, fmt.Sprintf("RateLimit.Burst is %d; it must be positive or zero (zero means EventsPerSecond rounded up)", e.RateLimit.Burst))
		}
	}
	return out
}

// checkRoute returns the problems of a whole route definition, each prefixed
// with where it is.
func checkRoute(r *Route, p *check.Problems) {
	where := "route " + r.Namespace
	if msg := check.Namespace(r.Namespace); msg != "" {
		// Quoted, so that a namespace holding a newline cannot break the
		// one-problem-per-line error.
		where = "route " + strconv.Quote(r.Namespace)
		p.Add(where, "%s", msg)
	}
	if len(r.Events) == 0 {
		p.Add(where, "Events is empty; a route needs at least one event")
	}
	if r.Presence != nil {
		if msg := checkPresence(r.Presence); msg != "" {
			p.Add(where, "Presence: %s", msg)
		}
	}
	names := make([]string, 0, len(r.Events))
	for name := range r.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, msg := range checkEvent(name, r.Events[name]) {
			p.Add(fmt.Sprintf("%s event %q", where, name), "%s", msg)
		}
	}
}
