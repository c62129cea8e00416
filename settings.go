package realtime

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
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

// String returns the setting's field name: "Auth", "Guard", "RateLimit" or
// "Schema".
func (s Setting) String() string {
	switch s {
	case SettingAuth:
		return "Auth"
	case SettingGuard:
		return "Guard"
	case SettingRateLimit:
		return "RateLimit"
	case SettingSchema:
		return "Schema"
	}
	return fmt.Sprintf("Setting(%d)", uint8(s))
}

// stages records what each stage enforces, by the address of its code: every
// closure made by one function literal shares it.
var stages struct {
	sync.Mutex
	enforce map[uintptr]Setting
}

// Enforces records that stage enforces the settings and returns stage
// unchanged. Start checks each event's chain against the settings declared
// for it, and a stage counts only when it was recorded: the standard stages
// of package middleware record themselves, and a stage that replaces one, or
// wraps one, must be recorded the same way. Every closure made by the same
// function literal counts as the same stage, so a constructor records what
// it returns:
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
// Record the stage where it is made, not in advance from another call: the
// compiler may copy a function literal into each caller it inlines, and a
// copy recorded nowhere does not count. Enforces is safe for concurrent use;
// it panics on a nil stage.
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
	stages.Lock()
	if stages.enforce == nil {
		stages.enforce = make(map[uintptr]Setting)
	}
	stages.enforce[code] |= set
	stages.Unlock()
}

// enforced returns what the stages enforce together.
func enforced(mws Middlewares) Setting {
	stages.Lock()
	defer stages.Unlock()
	var set Setting
	for _, mw := range mws {
		set |= stages.enforce[reflect.ValueOf(mw).Pointer()]
	}
	return set
}

// enforcesSchema records that a handler runs its event's schema itself.
func enforcesSchema(h Handler) Handler {
	record(reflect.ValueOf(h).Pointer(), SettingSchema)
	return h
}

// handlerEnforces returns what a handler enforces itself.
func handlerEnforces(h Handler) Setting {
	stages.Lock()
	defer stages.Unlock()
	return stages.enforce[reflect.ValueOf(h).Pointer()]
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

// stageNames names the standard stage of each setting, for the fix.
var stageNames = map[Setting]string{
	SettingAuth:      "middleware.Auth",
	SettingGuard:     "middleware.Guard",
	SettingRateLimit: "middleware.RateLimit",
	SettingSchema:    "middleware.Validate or a realtime.Typed handler",
}

func (ns *namespace) unenforced() []string {
	where := "namespace " + ns.name
	if ns.route != nil {
		where = "route " + ns.name
	}
	var out []string
	missing := func(ep, field string, set, have Setting) {
		if have&set == 0 {
			out = append(out, fmt.Sprintf("%s %s: %s is set but no stage in its chain enforces it; add %s",
				where, ep, field, stageNames[set]))
		}
	}
	r := ns.route
	if r != nil && (r.Auth != nil || r.Guard != nil) {
		mws := ns.defaultMws()
		if ns.connect != nil {
			mws = ns.connect.mws
		}
		have := enforced(mws)
		if r.Auth != nil {
			missing("connect", "Route.Auth", SettingAuth, have)
		}
		if r.Guard != nil {
			missing("connect", "Route.Guard", SettingGuard, have)
		}
	}
	eps := make([]*endpoint, 0, len(ns.events)+1)
	for _, ep := range ns.events {
		eps = append(eps, ep)
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].name < eps[j].name })
	if ns.notFound != nil {
		eps = append(eps, ns.notFound)
	}
	for _, ep := range eps {
		name := fmt.Sprintf("event %q", ep.name)
		if ep.kind == kindNotFound {
			name = "NotFound handler"
		}
		have := enforced(ep.mws)
		if r != nil && r.Guard != nil {
			missing(name, "Route.Guard", SettingGuard, have)
		}
		if ep.Guard != nil {
			missing(name, "Event.Guard", SettingGuard, have)
		}
		if ep.RateLimit != nil {
			missing(name, "Event.RateLimit", SettingRateLimit, have)
		}
		if ep.Schema != nil {
			missing(name, "Event.Schema", SettingSchema, have|handlerEnforces(ep.Handler))
		}
	}
	return out
}
