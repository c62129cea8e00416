package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kinds of topic: a whole namespace, a room, or a user.
const (
	topicNamespace byte = 'n'
	topicRoom      byte = 'r'
	topicUser      byte = 'u'
)

// topic is what a broker topic this instance subscribed to stands for.
type topic struct {
	ns   *namespace
	kind byte
	name string
}

func namespaceTopic(ns string) string    { return "ns:" + ns }
func roomTopic(ns, room string) string   { return "room:" + ns + ":" + room }
func userTopic(ns, userID string) string { return "user:" + ns + ":" + userID }

var errSocketGone = errors.New("realtime: socket has left its namespace")

// subscribe subscribes to a broker topic (once) and remembers what it is.
func (s *server) subscribe(ctx context.Context, name string, t topic) error {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if _, ok := s.topics[name]; ok {
		return nil
	}
	if err := s.broker.Subscribe(ctx, name); err != nil {
		return err
	}
	s.topics[name] = t
	return nil
}

// Pacing of the retries of failed subscriptions: the first comes soon after
// the failure, the next ones at most resubscribeMaxBackoff apart, so that a
// room joined while the broker was unreachable hears the other instances
// within about that long after the broker is back.
const (
	resubscribeMinBackoff = 50 * time.Millisecond
	resubscribeMaxBackoff = time.Second
	resubscribeTimeout    = 2 * time.Second
)

// interest makes sure the broker delivers a room's or user's topic here
// while a local socket needs it. A subscription that fails (Redis down) does
// not undo the local join: the topic is routed here at once (a broker that
// keeps failed subscriptions, like broadcast/redis, delivers as soon as its
// connection is back), logged, and retried in the background until the
// broker confirms it, so local delivery goes on and cross-instance delivery
// resumes as soon as the broker can be reached.
func (s *server) interest(ctx context.Context, name string, t topic) {
	if s.broker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, resubscribeTimeout)
	defer cancel()
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if _, ok := s.topics[name]; ok {
		return // subscribed, or pending and being retried
	}
	s.topics[name] = t
	if err := s.broker.Subscribe(ctx, name); err != nil {
		if s.pending == nil {
			s.pending = make(map[string]struct{})
		}
		s.pending[name] = struct{}{}
		s.retryLocked()
		s.cfg.Logger.Warn("realtime: subscribe failed; retrying until the broker is back", "topic", name, "error", err)
	}
}

// retryLocked starts the goroutine that retries pending subscriptions, if it
// is not running. subMu is held.
func (s *server) retryLocked() {
	if s.retrying || s.subStopped {
		return
	}
	s.retrying = true
	s.subWG.Add(1)
	go s.retryPending()
}

// retryPending retries the pending subscriptions, all in one Subscribe, with
// a backoff from resubscribeMinBackoff to resubscribeMaxBackoff, until none
// is left or the mux stops.
func (s *server) retryPending() {
	defer s.subWG.Done()
	backoff := resubscribeMinBackoff
	timer := time.NewTimer(backoff)
	defer timer.Stop()
	for {
		select {
		case <-s.subStop:
			return
		case <-timer.C:
		}
		s.subMu.Lock()
		names := make([]string, 0, len(s.pending))
		for name := range s.pending {
			names = append(names, name)
		}
		var err error
		if len(names) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), resubscribeTimeout)
			err = s.broker.Subscribe(ctx, names...)
			cancel()
		}
		if err == nil {
			s.pending = nil
			s.retrying = false
			s.subMu.Unlock()
			if len(names) > 0 {
				s.cfg.Logger.Info("realtime: subscriptions restored", "topics", len(names))
			}
			return
		}
		s.subMu.Unlock()
		backoff = min(2*backoff, resubscribeMaxBackoff)
		timer.Reset(backoff)
	}
}

// stopRetrying stops the retries of pending subscriptions and waits for the
// goroutine that runs them.
func (s *server) stopRetrying() {
	s.subMu.Lock()
	if !s.subStopped {
		s.subStopped = true
		close(s.subStop)
	}
	s.subMu.Unlock()
	s.subWG.Wait()
}

// disinterest drops a topic once no local socket needs it. It checks again
// under subMu, so a join racing with the last leave keeps the subscription.
// A pending subscription is given up too (the broker may hold it).
func (s *server) disinterest(name string) {
	if s.broker == nil {
		return
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	t, ok := s.topics[name]
	if !ok || t.kind == topicNamespace || t.ns.localCount(t.kind, t.name) > 0 {
		return
	}
	delete(s.topics, name)
	delete(s.pending, name)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.broker.Unsubscribe(ctx, name); err != nil {
		s.cfg.Logger.Warn("realtime: unsubscribe failed", "topic", name, "error", err)
	}
}

// A cluster message is: origin instance id, '\n', the id of a socket to
// skip (may be empty), '\n', the event name as a JSON string (which holds no
// raw newline), '\n', the data (JSON, possibly empty).
func (s *server) publish(ctx context.Context, name, except string, msg *message) error {
	if s.broker == nil {
		return nil
	}
	buf := make([]byte, 0, len(s.id)+len(except)+len(msg.event)+len(msg.data)+8)
	buf = append(buf, s.id...)
	buf = append(buf, '\n')
	buf = append(buf, except...)
	buf = append(buf, '\n')
	buf = appendJSONString(buf, msg.event)
	buf = append(buf, '\n')
	buf = append(buf, msg.data...)
	if err := s.publisher.enqueue(name, buf); err != nil {
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: err}
	}
	return nil
}

// receive is the broker's handler: it delivers another instance's message to
// the local sockets of the topic.
func (s *server) receive(name string, payload []byte) {
	origin, rest, ok := bytes.Cut(payload, []byte{'\n'})
	if !ok || string(origin) == s.id {
		return
	}
	except, rest, ok := bytes.Cut(rest, []byte{'\n'})
	if !ok {
		return
	}
	quoted, data, ok := bytes.Cut(rest, []byte{'\n'})
	var event string
	if !ok || json.Unmarshal(quoted, &event) != nil {
		return
	}
	if len(data) == 0 {
		data = nil
	}
	msg := newMessage(event, data)
	s.subMu.Lock()
	t, known := s.topics[name]
	s.subMu.Unlock()
	if !known {
		return
	}
	t.ns.deliver(t.kind, t.name, string(except), msg)
}

// Target is a set of sockets to emit to: a whole namespace, a room or a
// user's sockets, on every instance of the cluster. Get one from
// Ctx.ToRoom, Ctx.ToUser or Mux.In. A Target is a small value, safe to copy
// and to use concurrently.
type Target struct {
	ctx    context.Context
	ns     *namespace
	kind   byte
	name   string
	except string
}

// In returns the Target of a whole namespace, for emitting from outside
// handlers. It panics if the namespace does not exist.
func (m *Mux) In(namespace string) Target {
	ns := m.srv.namespaces[namespace]
	if ns == nil {
		panic(fmt.Sprintf("realtime: In(%q): no such namespace", namespace))
	}
	return Target{ctx: context.Background(), ns: ns, kind: topicNamespace}
}

// WithContext returns the Target with ctx bounding its emits' cluster
// publishes. Targets from a Ctx use the socket's context.
func (t Target) WithContext(ctx context.Context) Target {
	t.ctx = ctx
	return t
}

// ToRoom narrows a namespace Target to one room.
func (t Target) ToRoom(room string) Target {
	return Target{ctx: t.ctx, ns: t.ns, kind: topicRoom, name: room, except: t.except}
}

// ToUser narrows a namespace Target to the sockets of one user.
func (t Target) ToUser(userID string) Target {
	return Target{ctx: t.ctx, ns: t.ns, kind: topicUser, name: userID, except: t.except}
}

// Except returns the Target without the socket with the given id.
func (t Target) Except(socketID string) Target {
	t.except = socketID
	return t
}

func (t Target) topicName() string {
	switch t.kind {
	case topicRoom:
		return roomTopic(t.ns.name, t.name)
	case topicUser:
		return userTopic(t.ns.name, t.name)
	}
	return namespaceTopic(t.ns.name)
}

// Emit sends the event to every socket of the target: data is encoded once,
// queued for the local sockets at once, and queued once for the other
// instances, which a background publisher forwards in order (a burst in one
// round trip). It never waits for a client or for Redis. It fails if data
// cannot be encoded, or while the other instances cannot be reached: from a
// failed publish until one succeeds again, except for one emit a second that
// is queued to try again. Local sockets have their copy either way. An emit
// that returns nil may still be lost for the other instances when Redis
// fails: see RELIABILITY.md for exactly which.
func (t Target) Emit(event string, data any) error {
	if t.ns == nil {
		return errors.New("realtime: Emit on a zero Target")
	}
	if event == "" {
		return errors.New("realtime: Emit with an empty event name")
	}
	payload, err := encodeData(data)
	if err != nil {
		return fmt.Errorf("realtime: encode data of %q: %w", event, err)
	}
	msg := newMessage(event, payload)
	t.ns.deliver(t.kind, t.name, t.except, msg)
	return t.ns.srv.publish(t.ctx, t.topicName(), t.except, msg)
}

// Users returns the ids of the users with a socket in the target, sorted.
// On a single instance the answer is exact; in a cluster it comes from the
// shared presence and covers every instance.
func (t Target) Users(ctx context.Context) ([]string, error) {
	if t.ns == nil {
		return nil, errors.New("realtime: Users on a zero Target")
	}
	if p := t.ns.srv.presence; p != nil {
		users, err := p.users(ctx, t.ns.name, t.kind, t.name)
		if err != nil {
			return nil, &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: fmt.Errorf("realtime: read presence: %w", err)}
		}
		return users, nil
	}
	return t.ns.localUsers(t.kind, t.name), nil
}
