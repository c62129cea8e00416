package realtime

import (
	"fmt"
	"strings"

	"github.com/lolyjs/realtime/internal/check"
)

// Mux routes the events of WebSocket clients, by namespace and event name,
// through a middleware chain to handlers. It is an http.Handler: mount it
// where clients connect (at Config.Path, "/wss" by default).
//
// The root mux serves namespace "/"; Namespace and Route add others. Use,
// With and Group compose middleware the way chi does: middleware registered
// with Use applies to everything registered after it on that mux and its
// children, and must come before any event.
//
// Registration is not safe for concurrent use and must finish before Start
// (or the first request). Serving, Emit and Shutdown are safe for concurrent
// use.
type Mux struct {
	srv    *server
	ns     *namespace
	mws    Middlewares
	inline bool
	parent *Mux
	// sealed is set once something was registered through this mux, after
	// which Use panics.
	sealed bool
}

// Use appends middleware to the mux's stack. It panics if called after an
// event, a lifecycle handler or a namespace was registered on this mux,
// because those have already been composed with the stack as it was. On an
// inline mux (from With or Group) it adds to that mux's events only, as in
// chi: r.Group(func(r *Mux) { r.Use(mw); r.On(...) }).
func (m *Mux) Use(middlewares ...func(Handler) Handler) {
	m.mustNotBeStarted("Use")
	if m.sealed {
		panic("realtime: all middlewares must be defined before events on a mux")
	}
	mustNotBeNil("Use", middlewares)
	m.mws = append(m.mws, middlewares...)
}

// With returns an inline mux that adds the middlewares to the ones of m, for
// the events registered through it.
func (m *Mux) With(middlewares ...func(Handler) Handler) *Mux {
	m.mustNotBeStarted("With")
	mustNotBeNil("With", middlewares)
	mws := make(Middlewares, 0, len(m.mws)+len(middlewares))
	mws = append(append(mws, m.mws...), middlewares...)
	m.seal()
	return &Mux{srv: m.srv, ns: m.ns, mws: mws, inline: true, parent: m}
}

func mustNotBeNil(what string, middlewares []func(Handler) Handler) {
	for _, mw := range middlewares {
		if mw == nil {
			panic("realtime: " + what + " with a nil middleware")
		}
	}
}

// Group calls fn with an inline mux of m, so that a set of events can share
// middleware added with the inline mux's Use, and returns that mux.
func (m *Mux) Group(fn func(r *Mux)) *Mux {
	im := m.With()
	if fn != nil {
		fn(im)
	}
	return im
}

// Namespace returns the mux of a namespace, like "/chat", creating it with
// m's middleware stack; fn, when not nil, is called with it. Middleware
// added with Use on the returned mux applies to that namespace only.
// Registering the same namespace twice panics.
func (m *Mux) Namespace(name string, fn func(r *Mux)) *Mux {
	m.mustNotBeStarted("Namespace")
	if msg := check.Namespace(name); msg != "" {
		panic("realtime: " + msg)
	}
	if _, dup := m.srv.namespaces[name]; dup {
		panic(fmt.Sprintf("realtime: namespace %q is already defined", name))
	}
	m.seal()
	nm := m.srv.newNamespaceMux(name, m)
	if fn != nil {
		fn(nm)
	}
	return nm
}

// newNamespaceMux makes a namespace and the mux that owns it, with the
// middleware of parent.
func (s *server) newNamespaceMux(name string, parent *Mux) *Mux {
	nm := &Mux{srv: s, mws: append(Middlewares(nil), parent.mws...), parent: parent}
	nm.ns = s.namespace(name, nm)
	return nm
}

// On registers the handler for an event in the mux's namespace. It panics on
// an invalid or duplicate name or a nil handler.
func (m *Mux) On(event string, h Handler) {
	m.Handle(event, Event{Handler: h})
}

// Handle registers an event with its settings (schema, guard, rate limit) in
// the mux's namespace. It panics on an invalid or duplicate name, a nil
// handler or invalid settings.
func (m *Mux) Handle(event string, e Event) {
	m.mustNotBeStarted("Handle")
	if problems := checkEvent(event, e); len(problems) > 0 {
		panic(fmt.Sprintf("realtime: event %q in namespace %s: %s", event, m.ns.name, strings.Join(problems, "; ")))
	}
	if _, dup := m.ns.events[event]; dup {
		panic(fmt.Sprintf("realtime: event %q is already registered in namespace %s", event, m.ns.name))
	}
	m.seal()
	m.ns.define(kindEvent, event, e, m.mws)
}

// OnConnect registers the handler run when a socket joins the mux's
// namespace, after the middleware accepted it (so Ctx.User is set by then).
// Returning an error refuses the socket.
func (m *Mux) OnConnect(h Handler) {
	m.lifecycle("OnConnect", kindConnect, h)
}

// OnDisconnect registers the handler run when a socket leaves the mux's
// namespace. Ctx.DisconnectReason tells why.
func (m *Mux) OnDisconnect(h Handler) {
	m.lifecycle("OnDisconnect", kindDisconnect, h)
}

// NotFound sets the handler for events that have no handler in the mux's
// namespace. The default returns UNKNOWN_EVENT.
func (m *Mux) NotFound(h Handler) {
	m.lifecycle("NotFound", kindNotFound, h)
}

func (m *Mux) lifecycle(what string, kind endpointKind, h Handler) {
	m.mustNotBeStarted(what)
	if h == nil {
		panic("realtime: " + what + " with a nil handler")
	}
	if m.ns.endpoint(kind) != nil {
		panic("realtime: " + what + " is already set for namespace " + m.ns.name)
	}
	m.seal()
	m.ns.define(kind, "", Event{Handler: h}, m.mws)
}

// Route registers a declarative route (the Go form of loly's
// defineWssRoute), composed with m's middleware. Its problems are not
// reported here but by Start, together with those of every other route, in
// one error; the mux serves no socket while any remain.
func (m *Mux) Route(r Route) {
	m.mustNotBeStarted("Route")
	s := m.srv
	if r.Namespace == "" {
		r.Namespace = m.ns.name
	}
	before := s.problems.Len()
	checkRoute(&r, &s.problems)
	where := "route " + r.Namespace
	ns, exists := s.namespaces[r.Namespace]
	switch {
	case exists && ns.route != nil:
		s.problems.Add(where, "namespace is defined by two routes; merge them into one")
		return
	case exists && ns.hasHandlers() && ns.base != m:
		s.problems.Add(where, "namespace already has events registered with On or Handle; define it in one place")
		return
	case s.problems.Len() > before && check.Namespace(r.Namespace) != "":
		return
	}
	m.seal()
	if !exists {
		base := s.newNamespaceMux(r.Namespace, m)
		base.sealed = true
		ns = base.ns
	}
	route := r
	ns.route = &route
	switch {
	case r.Presence != nil && ns.presence != nil:
		s.problems.Add(where, "Presence is also set with Mux.Presence; set it in one place")
	case r.Presence != nil:
		p := *r.Presence
		ns.presence = &p
	}
	// The route gets the stages of the mux it is registered through (With
	// and Group ones too) when that mux extends the namespace's own.
	mws := ns.base.mws
	for p := m; p != nil; p = p.parent {
		if p == ns.base {
			mws = m.mws
			ns.routeMws = mws
			break
		}
		if !p.inline {
			break
		}
	}
	for name, e := range r.Events {
		if len(checkEvent(name, e)) > 0 {
			continue
		}
		if _, dup := ns.events[name]; dup {
			s.problems.Add(fmt.Sprintf("%s event %q", where, name), "is also registered with On or Handle")
			continue
		}
		ns.define(kindEvent, name, e, mws)
	}
	if r.OnConnect != nil && ns.connect == nil {
		ns.define(kindConnect, "", Event{Handler: r.OnConnect}, mws)
	}
	if r.OnDisconnect != nil && ns.disconnect == nil {
		ns.define(kindDisconnect, "", Event{Handler: r.OnDisconnect}, mws)
	}
}

func (m *Mux) seal() {
	for p := m; p != nil; p = p.parent {
		p.sealed = true
		if !p.inline {
			break
		}
	}
}

func (m *Mux) mustNotBeStarted(what string) {
	if m.srv.started.Load() {
		panic("realtime: " + what + " after the mux started serving; register everything before Start")
	}
}
