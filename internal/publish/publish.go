// Package publish forwards an instance's cluster messages to its broker in
// the background, in order, a burst in one round trip, and fails fast
// while the broker cannot be reached.
package publish

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lolyjs/realtime/broadcast"
)

// Publisher forwards this instance's emits to the others in the background:
// an emit delivers to local sockets at once, queues its cluster message and
// returns; one goroutine publishes what is queued, in order, a whole burst in
// one round trip when the broker is a broadcast.BatchPublisher. So a burst of
// emits is not paced by Redis round trips, and the other instances receive it
// as a burst too, which lets their send queues pack it into few frames.
//
// Errors still reach the code that emits: from a failed publish (Redis down)
// until a publish succeeds again, emits fail at once with that error, after
// their local delivery, except one each failFastFor, which is queued to try
// the broker again (a probe). Messages a failed publish carried are lost for
// the other instances, untold, as pub/sub loses what is published while a
// subscriber is away: those of the publish that found the broker down (the
// emits made while it was in flight: about a second when Redis refuses
// connections, up to the client's read timeout when Redis hangs) and each
// probe that fails.
type Publisher struct {
	broker broadcast.Broker
	log    func(msg string, args ...any)

	mu      sync.Mutex
	queue   []broadcast.Message
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stopped bool

	// failedAt is the UnixNano of the last failed publish, 0 after a
	// success, or probing while a probe is queued or in flight.
	failedAt atomic.Int64
	lastErr  atomic.Pointer[error]
	failed   int // messages in failed publishes since the last success (run only)
}

const (
	// maxPendingPublishes bounds the messages waiting for the broker; an
	// emit past it fails (the cluster link cannot keep up).
	maxPendingPublishes = 16384
	// failFastFor is how long after a failed publish emits fail at once.
	failFastFor = time.Second
	// publishTimeout bounds one batch.
	publishTimeout = 2 * time.Second
	// probing is failedAt while a probe is queued or in flight: as a time,
	// it is in the far future, so emits keep failing fast.
	probing = math.MaxInt64
)

// New starts a publisher on a broker; log receives its warnings.
func New(b broadcast.Broker, log func(string, ...any)) *Publisher {
	p := &Publisher{broker: b, log: log, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

var errPublishBacklog = errors.New("realtime: too many messages waiting for the other instances")

// Enqueue queues a message for the other instances, or says why it cannot.
func (p *Publisher) Enqueue(topic string, payload []byte) error {
	f := p.failedAt.Load()
	if f != 0 {
		// Failing: fail fast, but let one emit a failFastFor through to
		// try the broker again; the others fail until its publish ends.
		if f == probing || time.Since(time.Unix(0, f)) < failFastFor || !p.failedAt.CompareAndSwap(f, probing) {
			if err := p.lastErr.Load(); err != nil {
				return *err
			}
		}
	}
	var refused error
	p.mu.Lock()
	switch {
	case p.stopped:
		refused = errors.New("realtime: shutting down")
	case len(p.queue) >= maxPendingPublishes:
		refused = errPublishBacklog
	}
	if refused != nil {
		p.mu.Unlock()
		if f != 0 {
			p.failedAt.CompareAndSwap(probing, f) // not a probe after all
		}
		return refused
	}
	p.queue = append(p.queue, broadcast.Message{Topic: topic, Payload: payload})
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *Publisher) run() {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
		case <-p.stop:
			p.flush() // what was queued before the stop still goes out
			return
		}
		p.flush()
	}
}

// flush publishes everything queued, in order.
func (p *Publisher) flush() {
	for {
		p.mu.Lock()
		batch := p.queue
		p.queue = nil
		p.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		var err error
		if bp, ok := p.broker.(broadcast.BatchPublisher); ok {
			err = bp.PublishBatch(ctx, batch)
		} else {
			for _, m := range batch {
				if err = p.broker.Publish(ctx, m.Topic, m.Payload); err != nil {
					break
				}
			}
		}
		cancel()
		if err != nil {
			first := p.failedAt.Load() == 0
			err = fmt.Errorf("realtime: publish to other instances: %w", err)
			p.lastErr.Store(&err)
			p.failedAt.Store(time.Now().UnixNano())
			p.failed += len(batch)
			if first {
				p.log("realtime: publishing to other instances failed; emits reach local sockets only, and fail, until it recovers",
					"error", err.Error(), "failedMessages", len(batch))
			}
		} else if p.failedAt.Swap(0) != 0 {
			// Messages of failed publishes are lost for the other
			// instances, except that a Redis that hung may yet have run
			// a publish that timed out.
			p.log("realtime: publishing to other instances works again", "failedMessages", p.failed)
			p.failed = 0
		}
	}
}

// Close publishes what is queued and stops, waiting at most until ctx ends.
func (p *Publisher) Close(ctx context.Context) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.stop)
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}
