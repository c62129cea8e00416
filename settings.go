package realtime

import (
	"fmt"
	"maps"
	"slices"

	"github.com/lolyjs/realtime/internal/enforce"
)

// Setting is a kind of declared setting that only a stage of an event's
// chain puts into effect: Route.Auth, a route's or an event's Guard, an
// event's RateLimit and Schema. Start refuses to serve a namespace where one
// is declared and no stage of the chain it applies to enforces it, so that a
// forgotten stage never turns a check off without a word. See Enforces.
type Setting uint8

// The settings a stage can enforce.
const (
	// SettingAuth is Route.Auth; it applies to the namespace's connect
	// (middleware.Auth enforces it).
	SettingAuth Setting = enforce.Auth
	// SettingGuard is Route.Guard, which applies to every event of the
	// namespace and to its connect, and Event.Guard (middleware.Guard).
	SettingGuard Setting = enforce.Guard
	// SettingRateLimit is Event.RateLimit (middleware.RateLimit).
	SettingRateLimit Setting = enforce.RateLimit
	// SettingSchema is Event.Schema (middleware.Validate; a handler made
	// with Typed enforces its event's schema itself).
	SettingSchema Setting = enforce.Schema
)

// String returns the setting's field name: "Auth", "Guard", "RateLimit" or
// "Schema".
func (s Setting) String() string {
	if n, ok := enforce.Name(uint8(s)); ok {
		return n
	}
	return fmt.Sprintf("Setting(%d)", uint8(s))
}

// Enforces records that stage enforces the settings and returns stage
// unchanged. Start checks each event's chain against the settings declared
// for it, and a stage counts only when it was recorded: the standard stages
// of package middleware record themselves, and a stage that replaces one, or
// wraps one, must be recorded the same way. Every closure made by the same
// function literal counts as the same stage:
//
//	func Guard(next realtime.Handler) realtime.Handler { ... }
//
//	var _ = realtime.Enforces(Guard, realtime.SettingGuard)
//
//	func Auth(verify Verifier) func(realtime.Handler) realtime.Handler {
//		return realtime.Enforces(func(next realtime.Handler) realtime.Handler {
//			...
//		}, realtime.SettingAuth)
//	}
//
// A constructor records what it returns, as above, rather than one value in
// advance: the compiler may copy a function literal into each caller it
// inlines, and a copy recorded nowhere does not count. A record lasts for
// the life of the process. Enforces is safe for concurrent use; it panics
// on a nil stage.
func Enforces(stage func(Handler) Handler, settings ...Setting) func(Handler) Handler {
	if stage == nil {
		panic("realtime: Enforces with a nil stage")
	}
	var set Setting
	for _, s := range settings {
		set |= s
	}
	enforce.Record(stage, uint8(set))
	return stage
}

// enforcesSchema records that a handler runs its event's schema itself.
func enforcesSchema(h Handler) Handler {
	enforce.Record(h, enforce.Schema)
	return h
}

// checkSettings returns an error naming every declared setting that no
// stage of the chain it applies to enforces. Call it before finish, so that
// a NotFound handler the application did not set is not checked.
func (s *server) checkSettings() error {
	var out []string
	for _, name := range s.order {
		out = s.namespaces[name].unenforced(out)
	}
	return enforce.Err(out)
}

// unenforced appends the namespace's lines to out (see enforce.Missing).
func (ns *namespace) unenforced(out []string) []string {
	where, r := "namespace "+ns.name, ns.route
	if r != nil {
		where = "route " + ns.name
	}
	routeGuard := enforce.Declared{Field: "Route.Guard", Setting: enforce.Guard, Declared: r != nil && r.Guard != nil}
	if r != nil {
		conn := ns.connect
		if conn == nil {
			conn = &endpoint{mws: ns.defaultMws()}
		}
		out = enforce.Missing(out, where, "connect", enforce.Of(conn.mws, nil),
			enforce.Declared{Field: "Route.Auth", Setting: enforce.Auth, Declared: r.Auth != nil}, routeGuard)
	}
	eps := make([]*endpoint, 0, len(ns.events)+1)
	for _, name := range slices.Sorted(maps.Keys(ns.events)) {
		eps = append(eps, ns.events[name])
	}
	if ns.notFound != nil {
		eps = append(eps, ns.notFound)
	}
	for _, ep := range eps {
		what := fmt.Sprintf("event %q", ep.name)
		if ep.kind == kindNotFound {
			what = "NotFound handler"
		}
		out = enforce.Missing(out, where, what, enforce.Of(ep.mws, ep.Handler), routeGuard,
			enforce.Declared{Field: "Event.Guard", Setting: enforce.Guard, Declared: ep.Guard != nil},
			enforce.Declared{Field: "Event.RateLimit", Setting: enforce.RateLimit, Declared: ep.RateLimit != nil},
			enforce.Declared{Field: "Event.Schema", Setting: enforce.Schema, Declared: ep.Schema != nil})
	}
	return out
}
