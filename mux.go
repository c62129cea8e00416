package realtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/store"
	"github.com/lolyjs/realtime/store/memory"
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

// server is what every Mux of one tree shares.
type server struct {
	cfg Config

	namespaces map[string]*namespace
	order      []string
	problems   routeProblems

	startOnce sync.Once
	stopOnce  sync.Once
	startErr  error
	started   atomic.Bool
	closing   atomic.Bool

	// upgrader answers clients that offer the loly.v1 subprotocol with it;
	// plainUpgrader serves every other client (gws would refuse a list it
	// cannot match, and the protocol says to answer with plain v1 instead).
	upgrader      *gws.Upgrader
	plainUpgrader *gws.Upgrader
	store         store.Store
	ownStore      bool
	broker        broadcast.Broker
	id            string

	ipMu  sync.Mutex
	perIP map[string]int

	connMu sync.Mutex
	conns  map[*conn]struct{}
	connWG sync.WaitGroup

	subMu  sync.Mutex
	topics map[string]topic // topics routed here: subscribed or pending
	// pending holds the topics whose subscription failed, retried by one
	// goroutine (retrying) until the broker confirms them or no local
	// socket needs them.
	pending    map[string]struct{}
	retrying   bool
	subStopped bool
	subStop    chan struct{}
	subWG      sync.WaitGroup

	presence  *presence
	publisher *publisher

	// Engine.IO sessions (Socket.IO clients), by session id.
	eioMu       sync.Mutex
	eio         map[string]*eioSession
	eioUpgrader *gws.Upgrader
}

// New returns a root Mux with the configuration. The configuration is checked
// by Start, together with the routes, so that every problem is reported at
// once.
func New(cfg Config) *Mux {
	s := &server{
		cfg:        cfg,
		namespaces: make(map[string]*namespace),
		perIP:      make(map[string]int),
		conns:      make(map[*conn]struct{}),
		topics:     make(map[string]topic),
		subStop:    make(chan struct{}),
	}
	m := &Mux{srv: s}
	m.ns = s.namespace("/", m)
	return m
}

// Config returns the mux's configuration with defaults filled in.
func (m *Mux) Config() Config { return m.srv.cfg.withDefaults() }

// InstanceID returns this instance's id in the cluster, once started.
func (m *Mux) InstanceID() string { return m.srv.id }

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
	for _, mw := range middlewares {
		if mw == nil {
			panic("realtime: Use with a nil middleware")
		}
	}
	m.mws = append(m.mws, middlewares...)
}

// With returns an inline mux that adds the middlewares to the ones of m, for
// the events registered through it.
func (m *Mux) With(middlewares ...func(Handler) Handler) *Mux {
	m.mustNotBeStarted("With")
	for _, mw := range middlewares {
		if mw == nil {
			panic("realtime: With with a nil middleware")
		}
	}
	mws := make(Middlewares, 0, len(m.mws)+len(middlewares))
	mws = append(append(mws, m.mws...), middlewares...)
	m.seal()
	return &Mux{srv: m.srv, ns: m.ns, mws: mws, inline: true, parent: m}
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
	if msg := checkNamespace(name); msg != "" {
		panic("realtime: " + msg)
	}
	if _, dup := m.srv.namespaces[name]; dup {
		panic(fmt.Sprintf("realtime: namespace %q is already defined", name))
	}
	m.seal()
	nm := &Mux{srv: m.srv, mws: append(Middlewares(nil), m.mws...), parent: m}
	nm.ns = m.srv.namespace(name, nm)
	if fn != nil {
		fn(nm)
	}
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
	m.register(event, e)
}

func (m *Mux) register(event string, e Event) {
	m.seal()
	ep := &endpoint{Event: e, name: event}
	ep.chain = m.mws.Handler(e.Handler)
	m.ns.events[event] = ep
}

// OnConnect registers the handler run when a socket joins the mux's
// namespace, after the middleware accepted it (so Ctx.User is set by then).
// Returning an error refuses the socket.
func (m *Mux) OnConnect(h Handler) {
	m.mustNotBeStarted("OnConnect")
	if h == nil {
		panic("realtime: OnConnect with a nil handler")
	}
	if m.ns.connect != nil {
		panic("realtime: OnConnect is already set for namespace " + m.ns.name)
	}
	m.seal()
	m.ns.connect = &endpoint{name: EventConnect, Event: Event{Handler: h}}
	m.ns.connect.chain = m.mws.Handler(m.ns.accept(h))
}

// OnDisconnect registers the handler run when a socket leaves the mux's
// namespace. Ctx.DisconnectReason tells why.
func (m *Mux) OnDisconnect(h Handler) {
	m.mustNotBeStarted("OnDisconnect")
	if h == nil {
		panic("realtime: OnDisconnect with a nil handler")
	}
	if m.ns.disconnect != nil {
		panic("realtime: OnDisconnect is already set for namespace " + m.ns.name)
	}
	m.seal()
	m.ns.disconnect = &endpoint{name: EventDisconnect, Event: Event{Handler: h}}
	m.ns.disconnect.chain = m.mws.Handler(h)
}

// NotFound sets the handler for events that have no handler in the mux's
// namespace. The default returns UNKNOWN_EVENT.
func (m *Mux) NotFound(h Handler) {
	m.mustNotBeStarted("NotFound")
	if h == nil {
		panic("realtime: NotFound with a nil handler")
	}
	m.seal()
	m.ns.notFound = &endpoint{name: "", Event: Event{Handler: h}}
	m.ns.notFound.chain = m.mws.Handler(h)
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
	before := len(s.problems.list)
	checkRoute(&r, &s.problems)
	where := "route " + r.Namespace
	ns, exists := s.namespaces[r.Namespace]
	switch {
	case exists && ns.route != nil:
		s.problems.add(where, "namespace is defined by two routes; merge them into one")
		return
	case exists && (len(ns.events) > 0 || ns.connect != nil || ns.disconnect != nil) && ns.base != m:
		s.problems.add(where, "namespace already has events registered with On or Handle; define it in one place")
		return
	case len(s.problems.list) > before && checkNamespace(r.Namespace) != "":
		return
	}
	m.seal()
	var base *Mux
	if exists {
		base = ns.base
	} else {
		base = &Mux{srv: s, mws: append(Middlewares(nil), m.mws...), parent: m, sealed: true}
		ns = s.namespace(r.Namespace, base)
		base.ns = ns
	}
	route := r
	ns.route = &route
	for name, e := range r.Events {
		if len(checkEvent(name, e)) > 0 {
			continue
		}
		if _, dup := ns.events[name]; dup {
			s.problems.add(fmt.Sprintf("%s event %q", where, name), "is also registered with On or Handle")
			continue
		}
		ep := &endpoint{Event: e, name: name}
		ep.chain = base.mws.Handler(e.Handler)
		ns.events[name] = ep
	}
	if r.OnConnect != nil && ns.connect == nil {
		ns.connect = &endpoint{name: EventConnect, Event: Event{Handler: r.OnConnect}}
		ns.connect.chain = base.mws.Handler(ns.accept(r.OnConnect))
	}
	if r.OnDisconnect != nil && ns.disconnect == nil {
		ns.disconnect = &endpoint{name: EventDisconnect, Event: Event{Handler: r.OnDisconnect}}
		ns.disconnect.chain = base.mws.Handler(r.OnDisconnect)
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

// Start checks the configuration and every route, reporting all problems in
// one error, then starts the backends (the broker's subscriptions). In a
// cluster it first claims the instance id: it fails with ErrInstanceIDInUse
// when a live process holds it, and waits while a crashed one's registration
// has not expired yet (see Config.InstanceID); ctx bounds that wait. It runs
// once; later calls return the first result. ServeHTTP calls it on the first
// request when the application did not, and refuses sockets if it failed, so
// call it at startup to fail early.
func (m *Mux) Start(ctx context.Context) error {
	s := m.srv
	s.startOnce.Do(func() { s.startErr = s.start(ctx) })
	return s.startErr
}

func (s *server) start(ctx context.Context) error {
	errs := []error{s.cfg.Validate(), s.problems.err()}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.cfg = s.cfg.withDefaults()
	s.id = s.cfg.InstanceID
	if s.id == "" {
		s.id = uuid.NewString()
	}
	s.store = s.cfg.Store
	if s.store == nil {
		s.store, s.ownStore = memory.New(), true
	}
	s.broker = s.cfg.Broker
	for _, name := range s.order {
		s.namespaces[name].finish()
	}
	if s.broker != nil {
		// The instance id first: a process refused for a duplicate id
		// receives nothing.
		s.presence = newPresence(s)
		if err := s.presence.claim(ctx); err != nil {
			return fmt.Errorf("realtime: register presence: %w", err)
		}
		if err := s.startCluster(ctx); err != nil {
			s.stopRetrying()
			if s.publisher != nil {
				pctx, cancel := context.WithTimeout(context.Background(), time.Second)
				s.publisher.close(pctx)
				cancel()
			}
			s.presence.release()
			return err
		}
	}
	opt := &gws.ServerOption{
		ReadMaxPayloadSize:  s.cfg.MaxPayloadBytes,
		WriteMaxPayloadSize: 64 << 20,
		HandshakeTimeout:    s.cfg.HandshakeTimeout,
		NewSession:          func() gws.SessionStorage { return new(conn) },
	}
	plain := *opt
	opt.SubProtocols = []string{Subprotocol}
	s.upgrader = gws.NewUpgrader(s, opt)
	eioOpt := plain
	eioOpt.NewSession = func() gws.SessionStorage { return new(eioWS) }
	s.eioUpgrader = gws.NewUpgrader(eioEvents{}, &eioOpt)
	s.plainUpgrader = gws.NewUpgrader(s, &plain)
	s.started.Store(true)
	return nil
}

// startCluster starts the broker, the namespaces' subscriptions, the
// publisher and the presence heartbeat, once the instance id is claimed.
func (s *server) startCluster(ctx context.Context) error {
	if err := s.broker.Start(ctx, s.receive); err != nil {
		return fmt.Errorf("realtime: start broker: %w", err)
	}
	for _, name := range s.order {
		if err := s.subscribe(ctx, namespaceTopic(name), topic{ns: s.namespaces[name], kind: topicNamespace}); err != nil {
			return fmt.Errorf("realtime: subscribe namespace %s: %w", name, err)
		}
	}
	s.publisher = newPublisher(s.broker, s.cfg.Logger.Warn)
	if err := s.presence.start(ctx); err != nil {
		return fmt.Errorf("realtime: register presence: %w", err)
	}
	return nil
}

// ServeHTTP upgrades a client to a socket in the namespace named by the rest
// of its URL path, after the origin check (403) and the per-address
// connection limit (429), and serves it until it closes.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := m.srv
	if err := m.Start(r.Context()); err != nil {
		s.cfg.withDefaults().Logger.Error("realtime: refusing sockets: the mux failed to start", "error", err)
		http.Error(w, "realtime: server not started", http.StatusInternalServerError)
		return
	}
	if s.closing.Load() {
		http.Error(w, "realtime: server shutting down", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Query().Has("EIO") {
		s.serveEIO(w, r)
		return
	}
	ns := s.namespaces[s.namespaceOf(r.URL.Path)]
	if ns == nil {
		http.Error(w, "realtime: no such namespace", http.StatusNotFound)
		return
	}
	if !s.originAllowed(r) {
		http.Error(w, "realtime: origin not allowed", http.StatusForbidden)
		return
	}
	ip := s.cfg.ClientIP(r)
	if !s.acquireIP(ip) {
		http.Error(w, "realtime: too many connections from this address", http.StatusTooManyRequests)
		return
	}
	up := s.plainUpgrader
	if offersSubprotocol(r) {
		up = s.upgrader
	}
	ws, err := up.Upgrade(w, r)
	if err != nil {
		s.releaseIP(ip)
		return
	}
	c := ws.Session().(*conn)
	c.init(s, ns, ws, r, ip)
	if !s.track(c) {
		_ = ws.WriteClose(CloseGoingAway, []byte("server shutting down"))
		s.releaseIP(ip)
		return
	}
	// The read loop gets a goroutine of its own, so that this one, with the
	// stack and buffers net/http gave the request, ends with the handshake.
	go ws.ReadLoop()
}

func offersSubprotocol(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

// namespaceOf maps a request path to a namespace name.
func (s *server) namespaceOf(p string) string {
	if s.cfg.Path != "" && (p == s.cfg.Path || strings.HasPrefix(p, s.cfg.Path+"/")) {
		p = p[len(s.cfg.Path):]
	}
	p = "/" + strings.Trim(p, "/")
	return p
}

func (s *server) originAllowed(r *http.Request) bool {
	if s.cfg.CheckOrigin != nil {
		return s.cfg.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(s.cfg.AllowedOrigins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *server) acquireIP(ip string) bool {
	limit := s.cfg.Limits.ConnectionsPerIP
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if limit > 0 && s.perIP[ip] >= limit {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *server) releaseIP(ip string) {
	s.ipMu.Lock()
	if n := s.perIP[ip]; n <= 1 {
		delete(s.perIP, ip)
	} else {
		s.perIP[ip] = n - 1
	}
	s.ipMu.Unlock()
}

func (s *server) track(c *conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return true
}

func (s *server) untrack(c *conn) {
	s.connMu.Lock()
	_, ok := s.conns[c]
	delete(s.conns, c)
	s.connMu.Unlock()
	if ok {
		s.releaseIP(c.ip)
		s.connWG.Done()
	}
}

// Shutdown stops accepting sockets, then closes every socket with 1001 after
// what was queued for it is written, running each one's disconnect handlers,
// and waits for them until ctx is done; sockets still open then are cut.
// Backends given in Config are left open: their owner closes them.
func (m *Mux) Shutdown(ctx context.Context) error {
	s := m.srv
	s.connMu.Lock()
	s.closing.Store(true)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	for _, c := range conns {
		c.closeAfterDrain(CloseGoingAway, "server shutting down")
	}
	s.eioMu.Lock()
	sessions := make([]*eioSession, 0, len(s.eio))
	for _, e := range s.eio {
		sessions = append(sessions, e)
	}
	s.eioMu.Unlock()
	for _, e := range sessions {
		e.shut(&CloseError{Code: CloseGoingAway, Reason: "server shutting down"})
	}
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.connMu.Lock()
		for c := range s.conns {
			_ = c.ws.NetConn().Close()
		}
		s.connMu.Unlock()
		// Cut connections end their read loops at once; only a disconnect
		// handler that never returns could hold them, and it is not waited
		// for past a short grace.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	if s.started.Load() {
		s.stopOnce.Do(s.stopBackends)
	}
	return err
}

// stopBackends stops what Start started: presence, the broker's
// subscriptions, and the store when the mux made it.
func (s *server) stopBackends() {
	if s.publisher != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.publisher.close(ctx)
		cancel()
	}
	if s.presence != nil {
		s.presence.close()
	}
	if s.broker != nil {
		s.stopRetrying()
		s.subMu.Lock()
		names := make([]string, 0, len(s.topics))
		for name := range s.topics {
			names = append(names, name)
		}
		s.topics = make(map[string]topic)
		s.subMu.Unlock()
		if len(names) > 0 {
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.broker.Unsubscribe(uctx, names...)
			cancel()
		}
	}
	if s.ownStore {
		_ = s.store.Close()
	}
}
