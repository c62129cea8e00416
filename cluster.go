package realtime

import (
	"context"
	"time"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/relay"
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

// publish queues an emit for the other instances (see internal/relay for
// the message format).
func (s *server) publish(ctx context.Context, name, except string, msg *link.Message) error {
	if s.broker == nil {
		return nil
	}
	return s.enqueue(name, relay.AppendEmit(nil, s.id, except, msg.Event, msg.Data, msg.Spread))
}

// publishControl queues a control operation for the other instances.
func (s *server) publishControl(name, except string, c *relay.Control) error {
	if s.broker == nil {
		return nil
	}
	buf, err := relay.AppendControl(nil, s.id, except, c)
	if err != nil {
		return err
	}
	return s.enqueue(name, buf)
}

func (s *server) enqueue(name string, buf []byte) error {
	if err := s.publisher.Enqueue(name, buf); err != nil {
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: err}
	}
	return nil
}

// receive is the broker's handler: it delivers another instance's emit, or
// any instance's message of a room with history, to the local sockets of
// the topic, or applies another instance's control operation to them.
func (s *server) receive(name string, payload []byte) {
	s.subMu.Lock()
	t, known := s.topics[name]
	s.subMu.Unlock()
	if !known {
		return
	}
	if pos, prev, body, ok := history.ParseFrame(payload); ok {
		s.receiveLogged(t, pos, prev, body)
		return
	}
	m, ok := relay.Parse(payload, s.id)
	switch {
	case !ok:
	case m.Control != nil:
		t.ns.control(t.kind, t.name, m.Except, m.Control)
	case t.kind == topicRoom && s.events != nil && (m.Event == EventPresence || m.Event == EventPresenceCount):
		s.events.Receive(t.ns.name, t.name, m.Event, m.Data)
	default:
		msg := link.NewMessage(m.Event, m.Data)
		msg.Spread = m.Spread
		t.ns.deliver(t.kind, t.name, m.Except, msg)
	}
}
