package client

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// echoLoop is a closed request/reply loop on one connection: one request in
// flight, the next sent from the read goroutine as soon as the reply is in.
type echoLoop struct {
	active atomic.Bool

	mu     sync.Mutex
	buf    []byte
	id     int64
	sentAt int64
	from   int64 // replies to requests sent from here on are measured
	to     int64 // ... until here; no request is sent after it
	count  int64
	lat    []int64
	done   func()
	once   sync.Once
}

// EchoResult is what one connection measured.
type EchoResult struct {
	Count int64   // replies received for requests sent in the window
	Lat   []int64 // their round-trip times, in nanoseconds
}

// StartEcho starts the closed loop: requests are measured when sent at or
// after from, and none is sent after to. done is called once the loop ends
// (its last reply arrived, or the connection closed).
func (c *Conn) StartEcho(from, to time.Time, done func()) error {
	e := &echoLoop{from: from.UnixNano(), to: to.UnixNano(), done: done, lat: make([]int64, 0, 1<<14)}
	e.active.Store(true)
	c.echo.Store(e)
	go func() {
		<-c.closed
		e.finish()
	}()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.send(c)
}

// EchoResult returns what the loop measured; call it after done.
func (c *Conn) EchoResult() EchoResult {
	e := c.echo.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	return EchoResult{Count: e.count, Lat: e.lat}
}

func (e *echoLoop) finish() {
	e.once.Do(func() {
		e.active.Store(false)
		e.done()
	})
}

func (e *echoLoop) onReply(c *Conn, id, now int64) {
	e.mu.Lock()
	if id != e.id {
		e.mu.Unlock()
		return
	}
	if e.sentAt >= e.from && e.sentAt <= e.to {
		e.count++
		e.lat = append(e.lat, now-e.sentAt)
	}
	if now >= e.to {
		e.mu.Unlock()
		e.finish()
		return
	}
	err := e.send(c)
	e.mu.Unlock()
	if err != nil {
		e.finish()
	}
}

// send writes the next request; call with e.mu held.
func (e *echoLoop) send(c *Conn) error {
	id := c.nextID.Add(1)
	b := e.buf[:0]
	switch c.p {
	case Realtime:
		b = append(b, `{"event":"echo","id":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `,"data":`...)
		b = appendEchoData(b, id)
		b = append(b, '}')
	case Centrifuge:
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `,"rpc":{"method":"echo","data":`...)
		b = appendEchoData(b, id)
		b = append(b, "}}"...)
	case SocketIO:
		b = append(b, "42"...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `["echo",`...)
		b = appendEchoData(b, id)
		b = append(b, ']')
	default:
		b = append(b, 'E')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, ' ')
		b = appendEchoData(b, id)
	}
	e.buf = b
	e.id = id
	e.sentAt = time.Now().UnixNano()
	return c.write(b)
}

func appendEchoData(b []byte, seq int64) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, `,"text":"`+EchoText+`"}`...)
}
