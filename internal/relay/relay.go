// Package relay is the format of the messages the instances of a cluster
// send each other through the broker: an emit, or a socket-control
// operation (disconnect, join, leave, or an emit to one socket by id). It
// knows nothing of the realtime core beyond internal/wire.
//
// A message is four fields separated by '\n': the origin instance id, the
// id of a socket to skip (may be empty), the kind, and the rest (possibly
// empty). The kind of an emit is its event name as a JSON string, so it
// starts with '"', followed by '*' when the data is a JSON array of several
// arguments; the rest is its data (JSON). The kind of a control
// operation is '!' and the operation's name, which no JSON string can be;
// the rest is a JSON object with the operation's arguments. Neither the
// origin nor the skipped id may hold '\n' (AppendEmit and AppendControl
// replace a skipped id that does by one that matches no socket), and a JSON
// string holds no raw newline, so the first three fields are found without
// ambiguity, and no emit, whatever its event name, data or target, can be
// read as a control operation. The history log of a room (package history)
// keeps an emit's message as it is and publishes it in a frame of its own,
// which starts with a NUL byte; control operations are never logged.
package relay

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/lolyjs/realtime/internal/wire"
)

// Control operations.
const (
	// OpDisconnect closes the target's sockets with Code and Reason.
	OpDisconnect = "disconnect"
	// OpJoin puts the target's sockets in Room.
	OpJoin = "join"
	// OpLeave takes the target's sockets out of Room.
	OpLeave = "leave"
	// OpEmit sends Event with Data to the target's sockets (used for one
	// socket by id, which no emit can name).
	OpEmit = "emit"
)

// Control is a socket-control operation and its arguments.
type Control struct {
	Op string
	// Socket narrows the topic's sockets to the one with this id (sent on
	// the namespace topic, to which every instance is subscribed).
	Socket string
	Room   string
	Code   uint16
	Reason string
	Event  string
	Data   []byte // JSON, or nil
	// Spread tells that Data is a JSON array of several arguments.
	Spread bool
}

// args is the JSON form of a Control's arguments. A room name is any bytes
// (Socket.Join takes them as they are), so it travels as base64: a JSON
// string would turn invalid UTF-8 into another room's name.
type args struct {
	Socket string          `json:"socket,omitempty"`
	Room   []byte          `json:"room,omitempty"`
	Code   uint16          `json:"code,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Event  string          `json:"event,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Spread bool            `json:"spread,omitempty"`
}

// Message is a received message: an emit (Event, Data, Spread when Data
// is a JSON array of several arguments) or, when Control is not nil, a
// control operation.
type Message struct {
	Except  string
	Event   string
	Data    []byte
	Spread  bool
	Control *Control
}

// noSocket replaces a skipped socket id holding '\n': no socket has it (ids
// are UUIDs), as none has the id it replaces.
const noSocket = "\x00"

func head(b []byte, origin, except string) []byte {
	if strings.IndexByte(except, '\n') >= 0 {
		except = noSocket
	}
	b = append(b, origin...)
	b = append(b, '\n')
	b = append(b, except...)
	return append(b, '\n')
}

// AppendEmit appends the message of an emit to b (nil: a buffer of the
// right size is made); spread tells that data is a JSON array of several
// arguments.
func AppendEmit(b []byte, origin, except, event string, data []byte, spread bool) []byte {
	if b == nil {
		n := len(origin) + len(except) + len(event) + len(data) + 8
		if spread {
			n++
		}
		b = make([]byte, 0, n)
	}
	b = head(b, origin, except)
	b = wire.AppendString(b, event)
	if spread {
		b = append(b, '*')
	}
	b = append(b, '\n')
	return append(b, data...)
}

// AppendControl appends the message of a control operation to b. It fails
// only if c.Data is not valid JSON.
func AppendControl(b []byte, origin, except string, c *Control) ([]byte, error) {
	a := args{Socket: c.Socket, Code: c.Code, Reason: c.Reason, Event: c.Event, Data: c.Data, Spread: c.Spread}
	if c.Room != "" {
		a.Room = []byte(c.Room)
	}
	enc, err := json.Marshal(&a)
	if err != nil {
		return nil, err
	}
	b = head(b, origin, except)
	b = append(b, '!')
	b = append(b, c.Op...)
	b = append(b, '\n')
	return append(b, enc...), nil
}

// Parse reads a message. It reports false for a message of instance self
// (its own, echoed by the broker), a malformed one, and a control operation
// it does not know.
func Parse(p []byte, self string) (Message, bool) {
	origin, rest, ok := bytes.Cut(p, []byte{'\n'})
	if !ok || string(origin) == self {
		return Message{}, false
	}
	except, rest, ok := bytes.Cut(rest, []byte{'\n'})
	if !ok {
		return Message{}, false
	}
	kind, data, ok := bytes.Cut(rest, []byte{'\n'})
	if !ok {
		return Message{}, false
	}
	m := Message{Except: string(except)}
	if len(kind) > 0 && kind[0] == '!' {
		op := string(kind[1:])
		switch op {
		case OpDisconnect, OpJoin, OpLeave, OpEmit:
		default:
			return Message{}, false
		}
		var a args
		if json.Unmarshal(data, &a) != nil {
			return Message{}, false
		}
		m.Control = &Control{Op: op, Socket: a.Socket, Room: string(a.Room), Code: a.Code,
			Reason: a.Reason, Event: a.Event, Data: a.Data, Spread: a.Spread}
		return m, true
	}
	kind, m.Spread = bytes.CutSuffix(kind, []byte{'*'})
	// A variable of its own: &m.Event would move all of m to the heap.
	var event string
	if json.Unmarshal(kind, &event) != nil {
		return Message{}, false
	}
	m.Event = event
	if len(data) > 0 {
		m.Data = data
	}
	return m, true
}
