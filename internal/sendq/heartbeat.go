package sendq

import (
	"sync"
	"sync/atomic"
	"time"
)

// Heartbeat pings a client every interval and declares it gone when nothing
// it counts (Seen) arrived within timeout of a ping: a silent client is
// found within interval + timeout of its last sign of life. Both
// transports use it, the native protocol with WebSocket pings (any frame is
// a sign of life) and Engine.IO with its ping packets (a pong is). One timer
// per connection, no deadline set on each read, and no clock read per sign
// of life: Seen only raises a flag that the next ping lowers.
type Heartbeat struct {
	interval, timeout time.Duration
	ping, gone        func()

	// seen is set by a sign of life since the last ping (or the start).
	seen atomic.Bool

	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	lastPing time.Time
	awaiting bool // a ping is unanswered
}

// StartHeartbeat starts a heartbeat. ping sends a ping; gone runs once, on
// the timer's goroutine, when the client stayed silent past timeout after a
// ping. Neither may block.
func StartHeartbeat(interval, timeout time.Duration, ping, gone func()) *Heartbeat {
	h := &Heartbeat{interval: interval, timeout: timeout, ping: ping, gone: gone}
	h.lastPing = time.Now()
	h.mu.Lock()
	h.timer = time.AfterFunc(interval, h.tick)
	h.mu.Unlock()
	return h
}

// Seen records a sign of life from the client. It is called for every frame
// a client sends, so it only reads a flag while the flag is up.
func (h *Heartbeat) Seen() {
	if !h.seen.Load() {
		h.seen.Store(true)
	}
}

// Stop stops the heartbeat; gone will not run after it returns.
func (h *Heartbeat) Stop() {
	h.mu.Lock()
	h.stopped = true
	h.timer.Stop()
	h.mu.Unlock()
}

func (h *Heartbeat) tick() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	now := time.Now()
	if h.awaiting {
		if !h.seen.Load() {
			if deadline := h.lastPing.Add(h.timeout); now.Before(deadline) {
				h.timer.Reset(deadline.Sub(now))
				h.mu.Unlock()
				return
			}
			h.stopped = true
			h.mu.Unlock()
			h.gone()
			return
		}
		h.awaiting = false
	}
	next := h.lastPing.Add(h.interval)
	if !now.Before(next) {
		h.lastPing, h.awaiting = now, true
		h.seen.Store(false) // what arrives from now on answers this ping
		next = now.Add(h.interval)
		h.ping()
	}
	wake := next
	if h.awaiting {
		if deadline := h.lastPing.Add(h.timeout); deadline.Before(wake) {
			wake = deadline
		}
	}
	h.timer.Reset(wake.Sub(now))
	h.mu.Unlock()
}
