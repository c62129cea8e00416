package realtime

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
)

// Socket is one client's membership in one namespace. With the native
// protocol a connection carries exactly one socket. A Socket is safe for
// concurrent use; it stays valid after it closes, but emits to it are then
// dropped.
type Socket struct {
	id     string
	ns     *namespace
	link   link
	req    *http.Request
	ctx    context.Context
	cancel context.CancelFunc
	user   atomic.Pointer[User]
	// member is guarded by ns.mu: the socket is listed in its namespace.
	member bool

	mu     sync.Mutex
	rooms  map[string]struct{}
	locals map[any]any
}

// Local returns the value stored under key with SetLocal, or nil. Middleware
// keeps per-socket state here (rate limiter buckets, for example), so that
// it is freed with the socket.
func (s *Socket) Local(key any) any {
	s.mu.Lock()
	v := s.locals[key]
	s.mu.Unlock()
	return v
}

// SetLocal stores a value on the socket for as long as it lives. Use an
// unexported key type, as with context.WithValue.
func (s *Socket) SetLocal(key, value any) {
	s.mu.Lock()
	if s.locals == nil {
		s.locals = make(map[any]any)
	}
	s.locals[key] = value
	s.mu.Unlock()
}

// ID returns the socket's id, unique across the cluster.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace, like "/chat".
func (s *Socket) Namespace() string { return s.ns.name }

// User returns the user bound at connect, or nil for an anonymous socket.
func (s *Socket) User() *User { return s.user.Load() }

// Request returns the handshake request. Treat it as read-only.
func (s *Socket) Request() *http.Request { return s.req }

// RemoteIP returns the client address used for the per-address limit.
func (s *Socket) RemoteIP() string { return s.link.remoteIP() }

// Context returns a context that is cancelled when the socket closes.
func (s *Socket) Context() context.Context { return s.ctx }

// Limits returns the limits of the socket's mux (Config.Limits, with
// defaults filled in), for middleware that applies them.
func (s *Socket) Limits() Limits { return s.ns.srv.cfg.Limits }

// Rooms returns the rooms the socket is in, sorted.
func (s *Socket) Rooms() []string {
	s.mu.Lock()
	out := make([]string, 0, len(s.rooms))
	for r := range s.rooms {
		out = append(out, r)
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}

// InRoom reports whether the socket is in the room.
func (s *Socket) InRoom(room string) bool {
	s.mu.Lock()
	_, ok := s.rooms[room]
	s.mu.Unlock()
	return ok
}

// Join adds the socket to a room, in the cluster too: once Join returns,
// emits to the room from any instance reach the socket. While the broker
// cannot be reached (Redis down), Join still succeeds and emits from this
// instance reach the socket at once; the cluster subscription is retried in
// the background, at most a second apart, and emits from other instances
// reach the socket again as soon as the broker is back (what they publish
// before that is lost: pub/sub delivers at most once).
func (s *Socket) Join(room string) error { return s.ns.join(s, room) }

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) error { return s.ns.leave(s, room) }

// Emit queues an event for this socket only. It never waits for the client.
func (s *Socket) Emit(event string, data any) error {
	payload, err := encodeData(data)
	if err != nil {
		return err
	}
	s.link.emit(s, newMessage(event, payload))
	return nil
}

// Close closes the socket with a WebSocket close code, after what is already
// queued for it has been written. A Socket.IO socket is disconnected from its
// namespace; its connection stays open for its other namespaces.
func (s *Socket) Close(code uint16, reason string) {
	s.link.close(s, code, reason)
}

// EmitWithAck sends an event that asks the client for an acknowledgement
// and waits for it, until ctx is done. The answer is the client's ack
// argument (several arguments come as a JSON array). Socket.IO clients answer
// through their event callback; native sockets return ErrNoClientAcks.
//
// The ack is read like any other packet of the socket, so a handler of the
// same socket must not wait for it: call EmitWithAck from another goroutine.
func (s *Socket) EmitWithAck(ctx context.Context, event string, data any) (json.RawMessage, error) {
	e, ok := s.link.(*eioSession)
	if !ok {
		return nil, ErrNoClientAcks
	}
	payload, err := encodeData(data)
	if err != nil {
		return nil, err
	}
	return e.request(ctx, s, event, payload)
}
