// Package interest keeps an instance's broker subscriptions in step with
// what its local sockets need: a topic is subscribed when the first local
// socket needs it and unsubscribed when the last one is gone. A subscription
// that fails (the broker unreachable) is routed at once anyway and retried
// in the background, so that delivery starts as soon as the broker is back.
// It knows nothing of sockets: each topic carries a value of its owner's.
package interest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/lolyjs/realtime/broadcast"
)

// Pacing of the retries of failed subscriptions: the first comes soon after
// the failure, the next ones at most maxBackoff apart, so that a room joined
// while the broker was unreachable hears the other instances within about
// that long after the broker is back.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	timeout    = 2 * time.Second
)

// Set is the topics an instance routes, each with what it stands for (a T).
// Its methods are safe for concurrent use.
type Set[T any] struct {
	broker broadcast.Broker
	log    *slog.Logger

	mu       sync.Mutex
	topics   map[string]T        // routed here: subscribed or pending
	pending  map[string]struct{} // whose subscription failed, being retried
	retrying bool
	stopped  bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New returns an empty set on a broker.
func New[T any](broker broadcast.Broker, log *slog.Logger) *Set[T] {
	return &Set[T]{broker: broker, log: log, topics: make(map[string]T), stop: make(chan struct{})}
}

// Lookup returns what a routed topic stands for.
func (s *Set[T]) Lookup(name string) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	return t, ok
}

// Subscribe subscribes to a topic (once), failing when the broker does.
func (s *Set[T]) Subscribe(ctx context.Context, name string, t T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.topics[name]; ok {
		return nil
	}
	if err := s.broker.Subscribe(ctx, name); err != nil {
		return err
	}
	s.topics[name] = t
	return nil
}

// Want makes sure the broker delivers a topic here. A subscription that
// fails does not fail the caller: the topic is routed at once (a broker that
// keeps failed subscriptions, like broadcast/redis, delivers as soon as its
// connection is back), logged, and retried in the background until the
// broker confirms it.
func (s *Set[T]) Want(ctx context.Context, name string, t T) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
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
		s.log.Warn("realtime: subscribe failed; retrying until the broker is back", "topic", name, "error", err)
	}
}

// Drop unsubscribes from a topic unless needed still reports it is: it is
// asked under the set's lock, so that a Want racing with the last Drop
// keeps the subscription. A pending subscription is given up too (the
// broker may hold it).
func (s *Set[T]) Drop(name string, needed func(T) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	if !ok || needed(t) {
		return
	}
	delete(s.topics, name)
	delete(s.pending, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.broker.Unsubscribe(ctx, name); err != nil {
		s.log.Warn("realtime: unsubscribe failed", "topic", name, "error", err)
	}
}

// retryLocked starts the goroutine that retries pending subscriptions, if it
// is not running. mu is held.
func (s *Set[T]) retryLocked() {
	if s.retrying || s.stopped {
		return
	}
	s.retrying = true
	s.wg.Add(1)
	go s.retry()
}

// retry retries the pending subscriptions, all in one Subscribe, with a
// growing backoff, until none is left or the set stops.
func (s *Set[T]) retry() {
	defer s.wg.Done()
	backoff := minBackoff
	timer := time.NewTimer(backoff)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-timer.C:
		}
		s.mu.Lock()
		names := make([]string, 0, len(s.pending))
		for name := range s.pending {
			names = append(names, name)
		}
		var err error
		if len(names) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err = s.broker.Subscribe(ctx, names...)
			cancel()
		}
		if err == nil {
			s.pending, s.retrying = nil, false
			s.mu.Unlock()
			if len(names) > 0 {
				s.log.Info("realtime: subscriptions restored", "topics", len(names))
			}
			return
		}
		s.mu.Unlock()
		backoff = min(2*backoff, maxBackoff)
		timer.Reset(backoff)
	}
}

// Stop stops the retries, waits for them, and unsubscribes from every
// topic; the set is then empty.
func (s *Set[T]) Stop() {
	s.StopRetrying()
	s.mu.Lock()
	names := make([]string, 0, len(s.topics))
	for name := range s.topics {
		names = append(names, name)
	}
	clear(s.topics)
	s.pending = nil
	s.mu.Unlock()
	if len(names) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.broker.Unsubscribe(ctx, names...)
		cancel()
	}
}

// StopRetrying stops the retries and waits for them, keeping the topics.
func (s *Set[T]) StopRetrying() {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
}
