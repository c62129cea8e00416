// Package gate holds back what a socket is sent while its connect runs, so
// that a socket refused at connect never sees its connected notice, and one
// accepted sees it first: then what it missed, for a recovered one, then
// what the connect and other goroutines sent it meanwhile, in order.
package gate

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/lolyjs/realtime/internal/catchup"
	"github.com/lolyjs/realtime/internal/link"
)

// Output is one thing sent to a socket while its connect runs: a message,
// or else an ack.
type Output struct {
	Msg   *link.Message
	AckID int64
	Data  []byte
	Kind  link.AckKind

	accept bool // the connected notice
	replay bool // a message a recovered client missed
}

// Gate is the held output of one socket. Its methods are safe for
// concurrent use.
type Gate struct {
	// holding is the socket's flag, set while the connect runs; Hold and
	// the others check it again under mu.
	holding *atomic.Bool

	mu        sync.Mutex
	held      []Output
	closeAt   *link.Closed // a Close made while the connect ran
	refusing  bool         // the error handler is writing a refusal
	refusal   []byte       // the error object it wrote
	errEvent  string       // the event that carries it
	accepted  link.Accepted
	replayCut uint64
}

// Init ties the gate to the socket's holding flag.
func (g *Gate) Init(holding *atomic.Bool) { g.holding = holding }

// Hold keeps an output back while the connect runs; it reports false once
// the connect has ended (the output then goes out as usual). While a
// refusal is written, the error event is kept as the refusal and the rest
// dropped.
func (g *Gate) Hold(o Output) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.holding.Load() {
		return false
	}
	if g.refusing {
		if o.Msg != nil && o.Msg.Event == g.errEvent && g.refusal == nil {
			g.refusal = o.Msg.Data
		}
		return true
	}
	g.held = append(g.held, o)
	return true
}

// CloseLater keeps a Close made while the connect runs, for when it ends;
// it reports false when the connect is not running (the caller closes).
func (g *Gate) CloseLater(code uint16, reason string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.holding.Load() {
		return false
	}
	g.closeAt = &link.Closed{Code: code, Reason: reason}
	return true
}

// Accept tells the client it is connected and, for a recovered one,
// queues what it missed: both go first in what the connect holds, ahead of
// anything live that reached the socket meanwhile, which Release skips up
// to the cut (the replay has it).
func (g *Gate) Accept(l link.Conn, a link.Accepted, replay []catchup.Item, cut uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.holding.Load() {
		l.Accept(a)
		return
	}
	first := make([]Output, 0, 1+len(replay)+len(g.held))
	first = append(first, Output{accept: true})
	for _, m := range replay {
		first = append(first, Output{Msg: m.Msg, replay: true})
	}
	g.held = append(first, g.held...)
	g.accepted, g.replayCut = a, cut
}

// Release sends what was held, in order, then a Close made meanwhile, and
// ends holding; outputs from other goroutines wait on the gate meanwhile,
// so nothing overtakes. in reports whether the socket is in a room.
func (g *Gate) Release(l link.Conn, in func(room string) bool) {
	g.mu.Lock()
	for _, o := range g.held {
		switch {
		case g.stale(o, in):
		case o.accept:
			l.Accept(g.accepted)
		case o.Msg != nil:
			l.Deliver(o.Msg)
		default:
			l.Ack(o.AckID, o.Data, o.Kind)
		}
	}
	if c := g.closeAt; c != nil {
		l.Close(c.Code, c.Reason)
	}
	g.held, g.closeAt = nil, nil
	g.holding.Store(false)
	g.mu.Unlock()
}

// stale reports whether a held output need not go out: a live message the
// replay already covered, or one for a room the socket left before its
// connect ended. Called with g.mu held.
func (g *Gate) stale(o Output, in func(room string) bool) bool {
	if o.Msg == nil || o.Msg.Pos == "" {
		return false
	}
	if !in(o.Msg.Room) {
		return true
	}
	return !o.replay && o.Msg.Seq <= g.replayCut
}

// Refuse drops what the connect queued and has write write the refusal,
// keeping the first errEvent it sends; then it ends holding, dropping a
// Close made meanwhile. It returns the error object written (nil for none)
// and its message, or message when it has none.
func (g *Gate) Refuse(errEvent, message string, write func()) ([]byte, string) {
	g.mu.Lock()
	g.held, g.refusing, g.errEvent = nil, true, errEvent
	g.mu.Unlock()
	write()
	g.mu.Lock()
	body := g.refusal
	g.refusing, g.refusal, g.closeAt = false, nil, nil
	g.holding.Store(false)
	g.mu.Unlock()
	if body != nil {
		var written struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &written) == nil && written.Message != "" {
			message = written.Message
		}
	}
	return body, message
}
