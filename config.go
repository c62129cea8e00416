package realtime

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/conf"
	"github.com/lolyjs/realtime/internal/edge"
	"github.com/lolyjs/realtime/store"
)

// Defaults applied by Config.withDefaults, the same as loly's.
const (
	DefaultPath                   = "/wss"
	DefaultPingInterval           = 25 * time.Second
	DefaultPingTimeout            = 20 * time.Second
	DefaultMaxPayloadBytes        = 64 << 10
	DefaultConnectionsPerIP       = 20
	DefaultEventsPerSecond        = 30
	DefaultBurst                  = 60
	DefaultSendQueueBytes         = 1 << 20
	DefaultWriteTimeout           = 10 * time.Second
	DefaultHandshakeTimeout       = 10 * time.Second
	DefaultMaxRoomsPerSocket      = 100
	DefaultPresenceTTL            = 30 * time.Second
	DefaultSocketIOConnectTimeout = 45 * time.Second
	defaultCoalescedFrameBytes    = 64 << 10
)

// Config configures a Mux. The zero value is a working single-instance
// configuration with loly's defaults; fields left zero get the defaults
// documented on them. Mux.Start runs Validate and refuses to start on error.
type Config struct {
	// Path is the URL path the mux is mounted at (default "/wss"). A socket's
	// namespace is the rest of its URL path: /wss/chat is namespace /chat. A
	// request path that does not start with Path is taken whole, so the mux
	// also works behind http.StripPrefix.
	Path string

	// PingInterval is how often the server pings each socket (default 25s).
	PingInterval time.Duration
	// PingTimeout is how long past PingInterval a socket may stay silent,
	// pongs included, before it is closed (default 20s).
	PingTimeout time.Duration
	// MaxPayloadBytes is the largest frame accepted from a client (default
	// 64 KiB). A larger frame closes the socket with 1009.
	MaxPayloadBytes int

	// AllowedOrigins lists the Origin header values accepted at upgrade,
	// like "https://example.com". Empty means same host only: the Origin's
	// host must equal the request's Host. "*" accepts any origin. Requests
	// without an Origin header (non-browser clients) are accepted.
	AllowedOrigins []string
	// CheckOrigin, when set, decides instead of AllowedOrigins whether a
	// request may connect, for rules a list cannot state (loly.LocalOrigins
	// is loly's development rule: localhost on any port). It sees every
	// WebSocket upgrade and Engine.IO request, the ones without an Origin
	// header included; a false answer gets HTTP 403.
	CheckOrigin func(r *http.Request) bool

	// Limits bounds what one client may use.
	Limits Limits

	// SendQueueBytes bounds what may wait to be written to one connection,
	// counted in bytes (default 1 MiB), the same way for native sockets and
	// Socket.IO sessions: what is queued plus what is being written, and 48
	// bytes more per message, so that a flood of tiny messages is bounded
	// too. A client that lets more wait is a slow consumer: its queue is
	// dropped and it is closed with 1013, without delaying anyone else. A
	// reader that is only briefly behind stays well within the bound. One
	// message larger than the bound still goes to a client with nothing
	// pending.
	SendQueueBytes int
	// WriteTimeout bounds one write to a socket (default 10s).
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the WebSocket handshake (default 10s).
	HandshakeTimeout time.Duration

	// DisableSocketIO turns off serving Socket.IO clients (Engine.IO
	// requests, those with an EIO query parameter, at the same path). By
	// default unchanged socket.io-client 4.x apps are served beside native
	// clients; see docs/socketio.md.
	DisableSocketIO bool
	// SocketIOConnectTimeout bounds how long a Socket.IO connection may stay
	// open without joining a namespace (default 45s, Socket.IO's
	// connectTimeout); it is then closed. Native sockets join theirs at the
	// handshake.
	SocketIOConnectTimeout time.Duration

	// Store is the shared state behind Ctx.Store, and in a cluster the home
	// of presence (default: in memory, for one instance). With a Broker it
	// is required, and must be shared by every instance.
	Store store.Store
	// Broker carries emits between instances; setting it makes the mux an
	// instance of a cluster. Nil means one instance: emits reach only local
	// sockets. Package cluster builds a Store and a Broker on one Redis from
	// REDIS_URL.
	Broker broadcast.Broker
	// History is the log of the rooms that keep history (Route.History):
	// default in memory, for one instance. In a cluster with such rooms it
	// is required, shared by every instance, and publishes on the Broker's
	// channels (package cluster builds one on the same Redis).
	History history.Log
	// PresenceTTL bounds how long the users of an instance that died without
	// a goodbye stay listed by the others, and, in rooms with presence
	// events, how long until they are announced as leaving (default 30s).
	// Each instance refreshes its own entry every quarter of it, and its
	// entry expires three quarters of it after the last refresh.
	PresenceTTL time.Duration
	// InstanceID names this instance in the cluster (default: a random id,
	// new at each start). It must be unique among the running instances:
	// each ignores cluster messages from its own id, and presence keeps one
	// entry per id. Start refuses an id that a live process of the cluster
	// holds (ErrInstanceIDInUse). A process restarted with the id of one that
	// crashed waits, in Start, until the crashed one's registration expires
	// (at most PresenceTTL; a clean Shutdown releases it at once), and then
	// starts with none of its predecessor's users listed. Leave it empty
	// unless something outside needs a stable name.
	InstanceID string

	// Logger receives the mux's own log lines: failures outside a handler
	// (a panic that escaped the chain, a cluster outage, an eviction), and
	// every line handlers write through Ctx.Logger (default:
	// slog.Default()). The per-event access lines are middleware.Logger's,
	// which may send them, and the handlers' lines, to a logger of its own;
	// give it none to use this one.
	Logger *slog.Logger
	// ErrorHandler turns an error returned through the chain into what the
	// client gets (default: DefaultErrorHandler).
	ErrorHandler func(c *Ctx, err error)
	// ClientIP tells the address a connection comes from, for the
	// per-address limit (default: the host of Request.RemoteAddr). Set it
	// when running behind a trusted proxy.
	ClientIP func(r *http.Request) string
}

// Limits bounds what one client may use. Zero fields get the defaults; a
// negative value turns the limit off.
type Limits struct {
	// ConnectionsPerIP is how many sockets one address may hold open
	// (default 20). Connections over it get HTTP 429 before the upgrade.
	ConnectionsPerIP int
	// EventsPerSecond and Burst are the per-socket token bucket used by
	// middleware.RateLimit when it is not given its own (default 30 and 60).
	EventsPerSecond float64
	Burst           int
	// MaxRoomsPerSocket caps how many rooms one socket may be in (default
	// 100); Join past it fails.
	MaxRoomsPerSocket int
}

// defaults are the values withDefaults gives the fields left zero.
var defaults = conf.Defaults{
	Path: DefaultPath, PingInterval: DefaultPingInterval, PingTimeout: DefaultPingTimeout,
	MaxPayloadBytes: DefaultMaxPayloadBytes, SendQueueBytes: DefaultSendQueueBytes,
	WriteTimeout: DefaultWriteTimeout, HandshakeTimeout: DefaultHandshakeTimeout,
	PresenceTTL: DefaultPresenceTTL, SocketIOConnectTimeout: DefaultSocketIOConnectTimeout,
	ConnectionsPerIP: DefaultConnectionsPerIP, EventsPerSecond: DefaultEventsPerSecond,
	Burst: DefaultBurst, MaxRoomsPerSocket: DefaultMaxRoomsPerSocket,
}

// fields are the references internal/conf fills in and checks.
func (c *Config) fields() conf.Fields {
	return conf.Fields{
		Path: &c.Path, PingInterval: &c.PingInterval, PingTimeout: &c.PingTimeout,
		MaxPayloadBytes: &c.MaxPayloadBytes, SendQueueBytes: &c.SendQueueBytes,
		WriteTimeout: &c.WriteTimeout, HandshakeTimeout: &c.HandshakeTimeout,
		PresenceTTL: &c.PresenceTTL, SocketIOConnectTimeout: &c.SocketIOConnectTimeout,
		ConnectionsPerIP: &c.Limits.ConnectionsPerIP, EventsPerSecond: &c.Limits.EventsPerSecond,
		Burst: &c.Limits.Burst, MaxRoomsPerSocket: &c.Limits.MaxRoomsPerSocket,
		InstanceID: c.InstanceID, AllowedOrigins: c.AllowedOrigins,
		CheckOrigin: c.CheckOrigin != nil, Broker: c.Broker != nil, Store: c.Store != nil,
	}
}

func (c Config) withDefaults() Config {
	c.fields().Fill(defaults)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ErrorHandler == nil {
		c.ErrorHandler = DefaultErrorHandler
	}
	if c.ClientIP == nil {
		c.ClientIP = edge.RemoteIP
	}
	return c
}

// Validate reports every problem in the configuration at once, each naming
// the field and the fix. Zero fields are not problems: they get defaults.
func (c Config) Validate() error { return c.fields().Check() }
