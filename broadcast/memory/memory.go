// Package memory is a broadcast.Broker for instances that live in one process:
// the brokers of one Hub form a cluster and pass messages to one another
// directly, with no network and no backend to lose.
//
// It serves several realtime instances side by side in one process (NewHub,
// then Hub.Broker for each), as tests and embedded setups run them; New gives
// a broker on a private hub, a cluster of one. A single instance needs no
// broker at all (Config.Broker nil). It is not for instances in different
// processes or machines: use broadcast/redis for those.
//
// Delivery: Publish copies the payload for each subscribed broker and appends
// it to that broker's queue, which is unbounded, so Publish never blocks, even
// when called from a Handler. Each broker's Handler runs on one goroutine of
// its own, started by Start and stopped by Close, and sees the messages in the
// order they were queued. A Handler that cannot keep up makes its queue grow.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/broadcast/internal/dispatch"
)

var (
	errNotStarted = errors.New("memory: broker not started")
	errStarted    = errors.New("memory: broker already started")
	errNilHandler = errors.New("memory: nil handler")
	errClosed     = fmt.Errorf("memory: %w", broadcast.ErrClosed)
)

// Hub is an in-process message bus: the brokers it hands out form one
// cluster. The zero value is not usable; call NewHub. A Hub is safe for
// concurrent use.
type Hub struct {
	mu   sync.RWMutex
	subs map[string]map[*Broker]struct{} // topic -> subscribed brokers
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[string]map[*Broker]struct{})}
}

// Broker returns a new broker (a node of the cluster) on the hub.
func (h *Hub) Broker() *Broker {
	return &Broker{hub: h, topics: make(map[string]struct{})}
}

// New returns a broker on a private hub: a cluster of one, for a single
// instance.
func New() *Broker {
	return NewHub().Broker()
}

// Broker is one node on a Hub. It implements broadcast.Broker; all methods
// are safe for concurrent use.
type Broker struct {
	hub    *Hub
	closed atomic.Bool // also set under mu; read without it by Publish

	mu      sync.Mutex // guards the fields below; taken after hub.mu
	started bool
	topics  map[string]struct{}
	d       *dispatch.Dispatcher
}

var _ broadcast.Broker = (*Broker)(nil)

// Start sets the handler and starts the goroutine that calls it. It fails if
// h is nil, or if the broker was already started or is closed.
func (b *Broker) Start(ctx context.Context, h broadcast.Handler) error {
	if h == nil {
		return errNilHandler
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed.Load():
		return errClosed
	case b.started:
		return errStarted
	}
	b.started = true
	b.d = dispatch.Start(h, b.accepts)
	return nil
}

// accepts reports whether messages on topic are to be handed to the handler
// now; it makes Unsubscribe drop messages still queued.
func (b *Broker) accepts(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.topics[topic]
	return ok && !b.closed.Load()
}

// Publish queues a copy of payload for every broker of the hub subscribed to
// topic, this one included, and returns without waiting for the handlers.
// The broker need not be started.
func (b *Broker) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return errClosed
	}
	h := b.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	for sb := range h.subs[topic] {
		p := bytes.Clone(payload)
		if p == nil {
			p = []byte{}
		}
		sb.d.Push(topic, p)
	}
	return nil
}

// PublishBatch publishes the messages in order, as Publish would one by one.
func (b *Broker) PublishBatch(ctx context.Context, msgs []broadcast.Message) error {
	for _, m := range msgs {
		if err := b.Publish(ctx, m.Topic, m.Payload); err != nil {
			return err
		}
	}
	return nil
}

var _ broadcast.BatchPublisher = (*Broker)(nil)

// Subscribe starts delivering the topics' messages; it is effective when it
// returns. The broker must have been started.
func (b *Broker) Subscribe(ctx context.Context, topics ...string) error {
	return b.update(ctx, topics, true)
}

// Unsubscribe stops delivering the topics' messages, including those queued
// but not yet handled. Unknown topics are ignored.
func (b *Broker) Unsubscribe(ctx context.Context, topics ...string) error {
	return b.update(ctx, topics, false)
}

func (b *Broker) update(ctx context.Context, topics []string, subscribe bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed.Load():
		return errClosed
	case !b.started:
		return errNotStarted
	}
	for _, t := range topics {
		if subscribe {
			b.topics[t] = struct{}{}
			set := h.subs[t]
			if set == nil {
				set = make(map[*Broker]struct{})
				h.subs[t] = set
			}
			set[b] = struct{}{}
			continue
		}
		delete(b.topics, t)
		if set := h.subs[t]; set != nil {
			delete(set, b)
			if len(set) == 0 {
				delete(h.subs, t)
			}
		}
	}
	return nil
}

// Close detaches the broker from its hub and stops its handler goroutine,
// waiting for a handler call in progress to return; it must therefore not be
// called from the handler. A second Close returns an error wrapping
// broadcast.ErrClosed.
func (b *Broker) Close() error {
	h := b.hub
	h.mu.Lock()
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		h.mu.Unlock()
		return errClosed
	}
	b.closed.Store(true)
	for t := range b.topics {
		if set := h.subs[t]; set != nil {
			delete(set, b)
			if len(set) == 0 {
				delete(h.subs, t)
			}
		}
	}
	clear(b.topics)
	d := b.d
	b.mu.Unlock()
	h.mu.Unlock()
	if d != nil {
		d.Stop()
	}
	return nil
}
