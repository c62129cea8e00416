// Package dispatch runs a broker's Handler: it queues incoming messages and
// hands them, in order, to the handler on one goroutine of its own.
//
// It is shared by the broadcast implementations and is not for use outside
// them. The queue is unbounded, so pushing never blocks: a receiver never
// stalls its connection and a Handler that publishes to its own broker cannot
// deadlock. The price is memory when a Handler cannot keep up.
package dispatch

import (
	"sync"

	"github.com/lolyjs/realtime/broadcast"
)

// maxSpare is the capacity above which a drained queue's backing array is
// dropped rather than reused, so one burst does not pin memory for ever.
const maxSpare = 4096

type msg struct {
	topic   string
	payload []byte
	fn      func() // run in the message's place, when not nil
}

// Dispatcher calls a Handler on one goroutine, in push order, for the messages
// pushed to it, skipping those whose topic is no longer accepted.
type Dispatcher struct {
	h      broadcast.Handler
	accept func(topic string) bool

	mu    sync.Mutex
	queue []msg

	wake chan struct{} // capacity 1: "the queue may be non-empty"
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start returns a Dispatcher whose goroutine calls h for each pushed message
// whose topic accept reports true for at the moment of the call.
func Start(h broadcast.Handler, accept func(topic string) bool) *Dispatcher {
	d := &Dispatcher{
		h:      h,
		accept: accept,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go d.run()
	return d
}

// Push queues a message for the handler; it never blocks. payload then
// belongs to the dispatcher (and then to the handler).
func (d *Dispatcher) Push(topic string, payload []byte) {
	d.mu.Lock()
	d.queue = append(d.queue, msg{topic: topic, payload: payload})
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// PushFunc queues a function, run on the handler's goroutine in its turn.
func (d *Dispatcher) PushFunc(fn func()) {
	d.mu.Lock()
	d.queue = append(d.queue, msg{fn: fn})
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Stop stops the goroutine and waits for it to exit: when Stop returns, the
// handler is not running and will not be called again. Queued messages are
// dropped. Stop must not be called from the handler.
func (d *Dispatcher) Stop() {
	d.once.Do(func() { close(d.stop) })
	<-d.done
}

func (d *Dispatcher) run() {
	defer close(d.done)
	var spare []msg
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		}
		d.mu.Lock()
		batch := d.queue
		d.queue, spare = spare[:0], nil
		d.mu.Unlock()
		for i := range batch {
			select {
			case <-d.stop:
				return
			default:
			}
			m := batch[i]
			batch[i] = msg{} // release the payload once delivered
			if m.fn != nil {
				m.fn()
				continue
			}
			if d.accept(m.topic) {
				d.h(m.topic, m.payload)
			}
		}
		if cap(batch) <= maxSpare {
			spare = batch
		} else {
			spare = nil
		}
	}
}
