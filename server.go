package realtime

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/lolyjs/realtime/internal/check"
	"github.com/lolyjs/realtime/internal/edge"
	"github.com/lolyjs/realtime/internal/engineio"
	"github.com/lolyjs/realtime/internal/native"
	"github.com/lolyjs/realtime/internal/node"
	"github.com/lolyjs/realtime/internal/presence"
	"github.com/lolyjs/realtime/internal/recovery"
	"github.com/lolyjs/realtime/internal/wsconn"
)

// server is what every Mux of one tree shares: the registered namespaces,
// the HTTP edge (origin and per-address checks, transport selection,
// connection tracking, shutdown) and the cluster plumbing.
type server struct {
	cfg Config

	namespaces map[string]*namespace
	order      []string
	problems   check.Problems

	startMu  sync.Mutex
	started  atomic.Bool
	startErr error
	stopOnce sync.Once

	native *native.Server
	eio    *engineio.Server

	// node is the instance's backends, and in a cluster the broker topics
	// routed here.
	node node.Node[topic]

	perIP *edge.PerIP

	// conns are the native connections and Engine.IO sessions, for
	// Shutdown; the sessions themselves are the eio server's.
	conns edge.Conns[*native.Conn]
}

// New returns a root Mux with the configuration. The configuration is checked
// by Start, together with the routes, so that every problem is reported at
// once.
func New(cfg Config) *Mux {
	s := &server{
		cfg:        cfg,
		namespaces: make(map[string]*namespace),
	}
	m := &Mux{srv: s}
	m.ns = s.namespace("/", m)
	return m
}

// Config returns the mux's configuration with defaults filled in.
func (m *Mux) Config() Config { return m.srv.cfg.withDefaults() }

// InstanceID returns this instance's id in the cluster, once started.
func (m *Mux) InstanceID() string { return m.srv.node.ID }

// Start checks the configuration, every route and that each declared setting
// has a stage that enforces it (see Enforces), reporting all problems in one
// error, then starts the backends (the broker's subscriptions). In a cluster
// it first claims the instance id: it fails with ErrInstanceIDInUse when a
// live process holds it, and waits while a crashed one's registration has
// not expired yet (see Config.InstanceID); ctx bounds that wait.
//
// It runs once; later calls return its result, except that a start cut
// short by ctx (cancelled, or past its deadline) may be tried again.
// ServeHTTP starts the mux on the first request when the application did
// not, and refuses sockets while it cannot start, so call Start at startup
// to fail early.
func (m *Mux) Start(ctx context.Context) error {
	s := m.srv
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started.Load() || s.startErr != nil {
		return s.startErr
	}
	err := s.start(ctx)
	if err != nil && ctx.Err() != nil {
		return err // not kept: a later Start may succeed
	}
	s.startErr = err
	return err
}

func (s *server) start(ctx context.Context) error {
	errs := []error{s.cfg.Validate(), s.problems.Err(), s.checkSettings()}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cfg := s.cfg.withDefaults()
	id := cfg.InstanceID
	if id == "" {
		id = uuid.NewString()
	}
	s.cfg = cfg
	s.perIP = edge.NewPerIP(cfg.Limits.ConnectionsPerIP)
	topics := make([]node.Topic[topic], 0, len(s.order))
	for _, name := range s.order {
		s.namespaces[name].finish()
		topics = append(topics, node.Topic[topic]{
			Name: namespaceTopic(name), Value: topic{ns: s.namespaces[name], kind: topicNamespace}, About: "namespace " + name,
		})
	}
	err := s.node.Start(ctx, node.Config[topic]{
		Store: cfg.Store, Broker: cfg.Broker, History: cfg.History, ID: id, PresenceTTL: cfg.PresenceTTL, Logger: cfg.Logger,
		KeepsHistory: s.anyHistory(), Events: s.presenceEvents(), Snapshot: s.presenceSnapshot, Local: s.presenceLocal,
		Topics: topics, Receive: s.receiver(), Resume: s.resume,
	})
	if err != nil {
		return err
	}
	tr := edge.Transports{
		PingInterval: cfg.PingInterval, PingTimeout: cfg.PingTimeout, WriteTimeout: cfg.WriteTimeout, HandshakeTimeout: cfg.HandshakeTimeout,
		MaxPayload: cfg.MaxPayloadBytes, QueueBytes: cfg.SendQueueBytes, ConnectTimeout: cfg.SocketIOConnectTimeout,
		Logger: cfg.Logger, Admit: s.admitSession,
	}
	s.native = tr.Native()
	if !cfg.DisableSocketIO {
		s.eio = tr.SocketIO(sioHandler{s})
	}
	s.started.Store(true)
	return nil
}

// anyHistory reports whether a namespace keeps room history.
func (s *server) anyHistory() bool {
	for _, ns := range s.namespaces {
		if ns.keepsHistory() {
			return true
		}
	}
	return false
}

// resume catches the rooms with history up, after the broker reconnected.
func (s *server) resume() {
	for _, ns := range s.namespaces {
		ns.router.Resume()
	}
}

// presenceSnapshot is every namespace's presence entries, from the local
// tables.
func (s *server) presenceSnapshot() []presence.Entry {
	var out []presence.Entry
	for _, name := range s.order {
		out = s.namespaces[name].members.Snapshot(name, out)
	}
	return out
}

// ErrInstanceIDInUse is returned, wrapped, by Mux.Start when another live
// process of the cluster runs with the same Config.InstanceID. Two processes
// with one id would share one presence entry and drop each other's cluster
// messages (each ignores messages from its own id).
var ErrInstanceIDInUse = presence.ErrInstanceIDInUse

// ServeHTTP serves a client: a native WebSocket, upgraded into the
// namespace named by the rest of its URL path, or a Socket.IO client's
// Engine.IO requests, after the origin check (403) and, for a new
// connection, the per-address limit (429). The query tells them apart: a
// request with an EIO or transport parameter is Engine.IO's, served at the
// mux's root path only (404 elsewhere, and everywhere with
// Config.DisableSocketIO), never a native socket. Every refusal is a
// complete HTTP response; a refused WebSocket request also gets
// Connection: close.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := m.srv
	if err := m.Start(context.WithoutCancel(r.Context())); err != nil {
		s.cfg.withDefaults().Logger.Error("realtime: refusing sockets: the mux failed to start", "error", err)
		refuse(w, r, http.StatusInternalServerError, "realtime: server not started")
		return
	}
	if s.conns.Closing() {
		refuse(w, r, http.StatusServiceUnavailable, "realtime: server shutting down")
		return
	}
	if q := r.URL.Query(); q.Has("EIO") || q.Has("transport") {
		switch {
		case s.eio == nil:
			refuse(w, r, http.StatusNotFound, "realtime: Socket.IO is not served here")
		case s.namespaceOf(r.URL.Path) != "/":
			refuse(w, r, http.StatusNotFound, "realtime: Engine.IO requests go to the mux's root path; the namespace travels in the Socket.IO packets")
		case !s.originAllowed(r):
			refuse(w, r, http.StatusForbidden, "realtime: origin not allowed")
		default:
			s.eio.ServeHTTP(w, r)
		}
		return
	}
	ns := s.namespaces[s.namespaceOf(r.URL.Path)]
	if ns == nil {
		refuse(w, r, http.StatusNotFound, "realtime: no such namespace")
		return
	}
	if !s.originAllowed(r) {
		refuse(w, r, http.StatusForbidden, "realtime: origin not allowed")
		return
	}
	if status, problem := wsconn.CheckHandshake(r); status != 0 {
		refuse(w, r, status, "realtime: "+problem)
		return
	}
	ip := s.cfg.ClientIP(r)
	if !s.acquireIP(ip) {
		refuse(w, r, http.StatusTooManyRequests, "realtime: too many connections from this address")
		return
	}
	c, err := s.native.Upgrade(w, r)
	if err != nil {
		s.releaseIP(ip)
		return
	}
	if !s.conns.Track(c) {
		c.Kill()
		s.releaseIP(ip)
		return
	}
	sock := newSocket(ns, c, r, ip)
	if ns.keepsHistory() {
		sock.recover = recovery.FromQuery(r.URL.Query())
	}
	c.Serve(nativePeer{sock})
}

// refuse answers a request the edge turns down with a plain-text error.
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	wsconn.Refuse(w, r, status, "text/plain; charset=utf-8", msg+"\n")
}

// admitSession admits the handshake of a new Engine.IO session: the same
// checks and tracking as a native connection.
func (s *server) admitSession(r *http.Request) (func(), int, string) {
	return s.conns.Admit(s.perIP, s.cfg.ClientIP(r))
}

// namespaceOf maps a request path to a namespace name.
func (s *server) namespaceOf(p string) string { return edge.Namespace(p, s.cfg.Path) }

func (s *server) originAllowed(r *http.Request) bool {
	return edge.Origins{Check: s.cfg.CheckOrigin, Allowed: s.cfg.AllowedOrigins}.Allow(r)
}

func (s *server) acquireIP(ip string) bool { return s.perIP.Acquire(ip) }
func (s *server) releaseIP(ip string)      { s.perIP.Release(ip) }

// untrack forgets a native connection that ended.
func (s *server) untrack(c *native.Conn, ip string) {
	if s.conns.Untrack(c) {
		s.releaseIP(ip)
	}
}

// Shutdown stops accepting sockets, then closes every socket with 1001 after
// what was queued for it is written, running each one's disconnect handlers,
// and waits for them until ctx is done; sockets still open then are cut.
// Backends given in Config are left open: their owner closes them.
func (m *Mux) Shutdown(ctx context.Context) error {
	s := m.srv
	s.conns.Close(CloseGoingAway, "server shutting down")
	if s.eio != nil {
		s.eio.Shutdown(CloseGoingAway, "server shutting down")
	}
	done := s.conns.Ended()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.conns.Kill()
		if s.eio != nil {
			s.eio.Kill()
		}
		// Cut connections end their read loops at once; only a disconnect
		// handler that never returns could hold them, and it is not waited
		// for past a short grace.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	if s.started.Load() {
		s.stopOnce.Do(s.node.Stop)
	}
	return err
}
