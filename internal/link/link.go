// Package link is the one seam between the realtime core and a transport.
// The core holds a Conn for each socket and hands it encoded messages, acks
// and closes through it; a transport tells the core what arrives through
// its own small peer interface, in terms of this package and internal/wire
// only. Neither side sees the other's types, so a new transport touches its
// own package and the edge that selects it, nothing else.
package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Conn is what the core needs from a transport for one socket: one native
// WebSocket connection, or one namespace of a Socket.IO session.
//
// Deliver, Ack, Accept, Refuse and Close never block on the client and take
// no lock of the core's: the core may call them while it holds its own
// (delivering to a room, for one). A client that does not keep up is the
// transport's to evict, off the calling goroutine.
type Conn interface {
	// Deliver queues an event for the client.
	Deliver(m *Message)
	// Ack answers the client's event id with data, read as kind says.
	Ack(id int64, data []byte, kind AckKind)
	// Accept tells the client that its socket is connected.
	Accept(a Accepted)
	// Refuse tells the client that its connect failed: errJSON is the error
	// object the core's error handler wrote (nil when it wrote none), and
	// message its text. The socket then ends; the close code is for
	// transports that close their connection with it.
	Refuse(message string, errJSON []byte, code uint16)
	// Close ends the socket after what is queued for it, with a close code.
	Close(code uint16, reason string)
	// Request sends an event that asks the client for an acknowledgement
	// and waits for the answer (several arguments come as a JSON array),
	// until ctx is done or the socket ends. Transports without
	// server-to-client acks return ErrNoClientAcks.
	Request(ctx context.Context, event string, data []byte) (json.RawMessage, error)
}

// Replier is implemented by a Conn that can answer a socket's own event on
// the calling goroutine: when nothing is queued for the client, the frame is
// written there and then, with no hand-off to a writer; otherwise it is
// queued behind what is, as Ack and Deliver do. Either way the order of
// what the client receives is kept, and so is the queue's byte bound.
//
// The core calls these only while it runs an event of the socket, holding
// no lock, since they may wait for the client (for the write timeout at
// most): a socket's own slowness then delays only its own next event.
type Replier interface {
	// AckNow is Ack, written on the calling goroutine when it can be.
	AckNow(id int64, data []byte, kind AckKind)
	// DeliverNow is Deliver, written on the calling goroutine when it can be.
	DeliverNow(m *Message)
}

// Accepted is what a client is told when its socket is connected.
type Accepted struct {
	SocketID, Namespace string
	// Session is the id a client presents to recover the socket after a
	// reconnection, and Offset its position in the namespace's history
	// ("" in namespaces without history).
	Session, Offset string
	// Recovered tells a reconnection that restored the socket's rooms and
	// replayed what it missed; Reason says why one did not.
	Recovered bool
	Reason    string
}

// AckKind tells how an ack's data is read.
type AckKind uint8

const (
	// AckValue: the data is the ack's one value (JSON), or nil for none.
	AckValue AckKind = iota
	// AckArgs: the data is a JSON array of the ack's several arguments. A
	// transport with one value per ack sends the array as that value.
	AckArgs
	// AckError: the data is an error object (JSON).
	AckError
)

// ErrNoClientAcks is returned by Conn.Request on a transport that cannot
// ask the client for an acknowledgement (the native protocol).
var ErrNoClientAcks = errors.New("realtime: this socket's protocol has no server-to-client acknowledgements")

// ErrClosed is returned by Conn.Request once the socket has ended.
var ErrClosed = errors.New("realtime: socket has left its namespace")

// Closed is why a socket or a connection ended, as a transport reports it.
type Closed struct {
	// Code is the WebSocket close code (1006 for a connection lost without
	// a close).
	Code uint16
	// Reason is the close reason, in the project's own words.
	Reason string
	// ByServer tells a close the server decided (an eviction, a refusal,
	// a shutdown) from one the client made or a lost connection.
	ByServer bool
}

// String returns "closed by the server with 1013: slow consumer" and the
// like.
func (c Closed) String() string {
	switch {
	case c.ByServer:
		return fmt.Sprintf("closed by the server with %d: %s", c.Code, c.Reason)
	case c.Code == 1006:
		return "connection lost: " + c.Reason
	}
	return fmt.Sprintf("closed by the client with %d: %s", c.Code, c.Reason)
}

// Codec names a wire format whose encodings a Message caches. Each codec
// declares one, once: var codec = &link.Codec{Name: "loly.v1"}.
type Codec struct {
	Name string
}

// Message is one event on its way to sockets: its data encoded to JSON
// once, and to each codec's wire form at most once per key, however many
// sockets receive it. A Message is used by one goroutine at a time.
type Message struct {
	Event string
	Data  []byte // JSON, or nil for no data
	// Room and Pos are set on a message emitted to a room with history:
	// the room, and the message's position ("<epoch>-<seq>") that a client
	// hands back to recover what followed it; Seq is the position's number.
	Room string
	Pos  string
	Seq  uint64

	// Spread tells that Data is a JSON array of the event's several
	// arguments (at least two). A codec with several arguments per event
	// (Socket.IO) sends them as such; one with one value per event (the
	// native protocol) sends the array as that value.
	Spread bool

	n      uint8 // beside Spread: one word for both, as n int alone took
	inline [2]encoding
	more   []encoding
}

type encoding struct {
	codec *Codec
	key   string
	frame []byte
	extra [][]byte
}

// NewMessage returns a message for event with its JSON data.
func NewMessage(event string, data []byte) *Message {
	return &Message{Event: event, Data: data}
}

// NewArgs returns a message for event with several arguments, each encoded
// to JSON: one is the message's data, none is no data, several are a JSON
// array (Spread).
func NewArgs(event string, args []any) (*Message, error) {
	var v any = args
	switch len(args) {
	case 0:
		return NewMessage(event, nil), nil
	case 1:
		v = args[0]
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &Message{Event: event, Data: data, Spread: len(args) > 1}, nil
}

// Encoded returns the message's encoding for codec under key (a codec whose
// encoding depends on the socket, like Socket.IO's on the namespace, keys it
// so), building it with build the first time: a frame, and any parts that
// travel with it (binary attachments).
func (m *Message) Encoded(c *Codec, key string, build func() ([]byte, [][]byte)) ([]byte, [][]byte) {
	for i := 0; i < int(m.n); i++ {
		if e := &m.inline[i]; e.codec == c && e.key == key {
			return e.frame, e.extra
		}
	}
	for i := range m.more {
		if e := &m.more[i]; e.codec == c && e.key == key {
			return e.frame, e.extra
		}
	}
	frame, extra := build()
	e := encoding{codec: c, key: key, frame: frame, extra: extra}
	if int(m.n) < len(m.inline) {
		m.inline[m.n] = e
		m.n++
	} else {
		m.more = append(m.more, e)
	}
	return frame, extra
}
