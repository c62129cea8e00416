package realtime

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
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
	SettingAuth Setting = 1 << iota
	// SettingGuard is Route.Guard, which applies to every event of the
	// namespace and to its connect, and Event.Guard (middleware.Guard).
	SettingGuard
	// SettingRateLimit is Event.RateLimit (middleware.RateLimit).
	SettingRateLimit
	// SettingSchema is Event.Schema (middleware.Validate; a handler made
	// with Typed enforces its event's schema itself).
	SettingSchema
)

// settingNames holds each setting's field name and its standard stage.
var settingNames = map[Setting][2]string{
	SettingAuth:      {"Auth", "middleware.Auth"},
	SettingGuard:     {"Guard", "middleware.Guard"},
	SettingRateLimit: {"RateLimit", "middleware.RateLimit"},
	SettingSchema:    {"Schema", "middleware.Validate or a realtime.Typed handler"},
}

// String returns the setting's field name: "Auth", "Guard", "RateLimit" or
// "Schema".
func (s Setting) String() string {
	if n, ok := settingNames[s]; ok {
		return n[0]
	}
	return fmt.Sprintf("Setting(%d)", uint8(s))
}

// enforcing records what each stage enforces, by the address of its code:
// every closure made by one function literal shares it.
var (
	enforcingMu sync.Mutex
	enforcing   = map[uintptr]Setting{}
)

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
	record(reflect.ValueOf(stage).Pointer(), set)
	return stage
}

func record(code uintptr, set Setting) {
	enforcingMu.Lock()
	enforcing[code] |= set
	enforcingMu.Unlock()
}

// enforcesSchema records that a handler runs its event's schema itself.
func enforcesSchema(h Handler) Handler {
	record(reflect.ValueOf(h).Pointer(), SettingSchema)
	return h
}

// enforced returns what the stages and the handler enforce together.
func enforced(mws Middlewares, h Handler) Setting {
	enforcingMu.Lock()
	defer enforcingMu.Unlock()
	set := enforcing[reflect.ValueOf(h).Pointer()]
	for _, mw := range mws {
		set |= enforcing[reflect.ValueOf(mw).Pointer()]
	}
	return set
}

// checkSettings returns an error naming every declared setting that no
// stage of the chain it applies to enforces. Call it before finish, so that
// a NotFound handler the application did not set is not checked.
func (s *server) checkSettings() error {
	var out []string
	for _, name := range s.order {
		out = append(out, s.namespaces[name].unenforced()...)
	}
	if len(out) == 0 {
		return nil
	}
	return errors.New("realtime: declared settings that no stage enforces (add the stage with Use, With or Group, or record a replacement with realtime.Enforces):\n  - " +
		strings.Join(out, "\n  - "))
}

func (ns *namespace) unenforced() []string {
	where, r := "namespace "+ns.name, ns.route
	if r != nil {
		where = "route " + ns.name
	}
	var out []string
	check := func(what string, have Setting, field string, set Setting, declared bool) {
		if declared && have&set == 0 {
			out = append(out, fmt.Sprintf("%s %s: %s is set but no stage in its chain enforces it; add %s",
				where, what, field, settingNames[set][1]))
		}
	}
	routeGuard := r != nil && r.Guard != nil
	if r != nil {
		conn := ns.connect
		if conn == nil {
			conn = &endpoint{mws: ns.defaultMws()}
		}
		have := enforced(conn.mws, nil)
		check("connect", have, "Route.Auth", SettingAuth, r.Auth != nil)
		check("connect", have, "Route.Guard", SettingGuard, routeGuard)
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
		have := enforced(ep.mws, ep.Handler)
		check(what, have, "Route.Guard", SettingGuard, routeGuard)
		check(what, have, "Event.Guard", SettingGuard, ep.Guard != nil)
		check(what, have, "Event.RateLimit", SettingRateLimit, ep.RateLimit != nil)
		check(what, have, "Event.Schema", SettingSchema, ep.Schema != nil)
	}
	return out
}
