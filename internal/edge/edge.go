// Package edge holds the checks a server makes on an HTTP request before it
// becomes a connection: where it goes (its namespace), whether its Origin is
// allowed, and how many connections its address holds; it tracks the
// connections it let in, for a shutdown; and it builds the transports.
package edge

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lolyjs/realtime/internal/engineio"
	"github.com/lolyjs/realtime/internal/native"
	"github.com/lolyjs/realtime/internal/socketio"
)

// Namespace maps a request path to a namespace name, below the path the
// server is mounted at ("" when it is at the root). A path outside it is
// taken whole, so that a server behind http.StripPrefix works too.
func Namespace(p, mount string) string {
	if mount != "" && (p == mount || strings.HasPrefix(p, mount+"/")) {
		p = p[len(mount):]
	}
	return "/" + strings.Trim(p, "/")
}

// Origins decides which Origin headers are allowed.
type Origins struct {
	// Check, when set, decides alone.
	Check func(r *http.Request) bool
	// Allowed lists the origins allowed ("*" for any); empty means the
	// request's own host only.
	Allowed []string
}

// Allow reports whether r's Origin is allowed. A request without one (not
// from a browser) is.
func (o Origins) Allow(r *http.Request) bool {
	if o.Check != nil {
		return o.Check(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(o.Allowed) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	for _, a := range o.Allowed {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
}

// RemoteIP is the host of the request's remote address.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// PerIP counts the connections of each address, up to a limit (none when
// not positive). It is safe for concurrent use.
type PerIP struct {
	limit int
	mu    sync.Mutex
	n     map[string]int
}

// NewPerIP returns a counter with a limit.
func NewPerIP(limit int) *PerIP { return &PerIP{limit: limit, n: make(map[string]int)} }

// Acquire counts one more connection of ip, or reports false at the limit.
func (p *PerIP) Acquire(ip string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit > 0 && p.n[ip] >= p.limit {
		return false
	}
	p.n[ip]++
	return true
}

// Release counts one connection of ip fewer.
func (p *PerIP) Release(ip string) {
	p.mu.Lock()
	if n := p.n[ip]; n <= 1 {
		delete(p.n, ip)
	} else {
		p.n[ip] = n - 1
	}
	p.mu.Unlock()
}

// Conn is what Conns needs of a connection: a close after what is queued,
// and a cut.
type Conn interface {
	comparable
	Close(code uint16, reason string)
	Kill()
}

// Conns tracks an edge's open connections, so that a shutdown can close
// them and wait for them to end: connections of type C one by one, and
// others (sessions the edge does not hold) only counted. Its methods are
// safe for concurrent use.
type Conns[C Conn] struct {
	closing atomic.Bool
	mu      sync.Mutex
	set     map[C]struct{}
	wg      sync.WaitGroup
}

// Closing reports whether Close was called.
func (t *Conns[C]) Closing() bool { return t.closing.Load() }

// Track adds a connection, and reports false once Close was called.
func (t *Conns[C]) Track(c C) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing.Load() {
		return false
	}
	if t.set == nil {
		t.set = make(map[C]struct{})
	}
	t.set[c] = struct{}{}
	t.wg.Add(1)
	return true
}

// Untrack removes a connection, and reports whether it was tracked.
func (t *Conns[C]) Untrack(c C) bool {
	t.mu.Lock()
	_, ok := t.set[c]
	delete(t.set, c)
	t.mu.Unlock()
	if ok {
		t.wg.Done()
	}
	return ok
}

// Count counts a connection that is not held, and reports false once Close
// was called; done, called once it ended, uncounts it.
func (t *Conns[C]) Count() (done func(), ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing.Load() {
		return nil, false
	}
	t.wg.Add(1)
	return t.wg.Done, true
}

// Close refuses new connections from now on, and closes every tracked one
// with code and reason, outside the lock.
func (t *Conns[C]) Close(code uint16, reason string) {
	t.mu.Lock()
	t.closing.Store(true)
	conns := make([]C, 0, len(t.set))
	for c := range t.set {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close(code, reason)
	}
}

// Kill cuts every tracked connection.
func (t *Conns[C]) Kill() {
	t.mu.Lock()
	for c := range t.set {
		c.Kill()
	}
	t.mu.Unlock()
}

// Ended returns a channel closed once every connection, tracked or
// counted, has ended.
func (t *Conns[C]) Ended() <-chan struct{} {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	return done
}

// Admit admits a connection the edge does not hold (an Engine.IO
// session), with the same checks and counting as a tracked one: the
// per-address limit and the shutdown. It returns the function to call once
// the connection ended, called once however often it is called, or the
// HTTP status and message to refuse it with.
func (t *Conns[C]) Admit(perIP *PerIP, ip string) (release func(), status int, message string) {
	if !perIP.Acquire(ip) {
		return nil, http.StatusTooManyRequests, "realtime: too many connections from this address"
	}
	done, ok := t.Count()
	if !ok {
		perIP.Release(ip)
		return nil, http.StatusServiceUnavailable, "realtime: server shutting down"
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			perIP.Release(ip)
			done()
		})
	}, 0, ""
}

// Transports are the settings of the edge's transports: the native one,
// and Engine.IO with the Socket.IO layer.
type Transports struct {
	PingInterval, PingTimeout, WriteTimeout, HandshakeTimeout time.Duration
	// MaxPayload is the largest frame accepted from a client; QueueBytes
	// bounds what may wait to be written to one connection.
	MaxPayload, QueueBytes int
	// ConnectTimeout bounds how long a Socket.IO connection may stay open
	// without joining a namespace.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	// Admit decides whether an Engine.IO handshake may open a session (see
	// engineio.Config).
	Admit func(r *http.Request) (release func(), status int, message string)
}

// Native returns the server of native connections.
func (t Transports) Native() *native.Server {
	return native.NewServer(native.Config{
		PingInterval:     t.PingInterval,
		PingTimeout:      t.PingTimeout,
		MaxPayload:       t.MaxPayload,
		QueueBytes:       t.QueueBytes,
		WriteTimeout:     t.WriteTimeout,
		HandshakeTimeout: t.HandshakeTimeout,
	})
}

// SocketIO returns the Engine.IO server of Socket.IO clients, whose
// namespaces h serves.
func (t Transports) SocketIO(h socketio.Handler) *engineio.Server {
	return engineio.NewServer(engineio.Config{
		PingInterval:     t.PingInterval,
		PingTimeout:      t.PingTimeout,
		MaxPayload:       t.MaxPayload,
		QueueBytes:       t.QueueBytes,
		WriteTimeout:     t.WriteTimeout,
		HandshakeTimeout: t.HandshakeTimeout,
		Logger:           t.Logger,
		Admit:            t.Admit,
	}, socketio.NewServer(h, socketio.Config{Logger: t.Logger, ConnectTimeout: t.ConnectTimeout}))
}
