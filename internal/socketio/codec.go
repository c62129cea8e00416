package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/lolyjs/realtime/internal/wire"
)

// Socket.IO v5 packet types.
const (
	typeConnect      byte = '0'
	typeDisconnect   byte = '1'
	typeEvent        byte = '2'
	typeAck          byte = '3'
	typeConnectError byte = '4'
	typeBinaryEvent  byte = '5'
	typeBinaryAck    byte = '6'
)

// Packet is one decoded Socket.IO packet. Data is the JSON after the
// header, placeholders not yet replaced.
type Packet struct {
	Type        byte
	NS          string
	ID          int64 // -1: no ack asked (socket.io-client counts from 0)
	Attachments int
	Data        []byte
}

// ErrPacket is returned for a packet that is not valid Socket.IO.
var ErrPacket = errors.New("malformed Socket.IO packet")

// maxAttachments bounds the binary attachments one packet may announce:
// the reference parser's default.
const maxAttachments = 10

// Parse decodes a Socket.IO packet,
// <type>[<attachments>-][<namespace>,][<ack id>][<JSON>], and checks that
// its payload has the shape its type requires: an object or nothing for
// CONNECT, nothing for DISCONNECT, an array starting with the event name (a
// string or a number) for an event, an array for an ack.
func Parse(b []byte) (Packet, error) {
	var p Packet
	if len(b) == 0 || b[0] < typeConnect || b[0] > typeBinaryAck {
		return p, ErrPacket
	}
	p.Type, b = b[0], b[1:]
	if p.Type == typeBinaryEvent || p.Type == typeBinaryAck {
		i := bytes.IndexByte(b, '-')
		if i <= 0 || i > 3 || !digits(b[:i]) {
			return p, ErrPacket
		}
		n, _ := strconv.Atoi(string(b[:i]))
		if n > maxAttachments {
			return p, ErrPacket
		}
		p.Attachments, b = n, b[i+1:]
	}
	p.NS, p.ID = "/", -1
	if len(b) > 0 && b[0] == '/' {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			p.NS, b = string(b), nil
		} else {
			p.NS, b = string(b[:i]), b[i+1:]
		}
		if q := bytes.IndexByte([]byte(p.NS), '?'); q >= 0 {
			p.NS = p.NS[:q] // query strings on namespaces are not used
		}
	}
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > 0 {
		id, err := strconv.ParseInt(string(b[:i]), 10, 64)
		if err != nil {
			return p, ErrPacket
		}
		p.ID, b = id, b[i:]
	}
	p.Data = b
	if !validPayload(p.Type, b) {
		return p, ErrPacket
	}
	return p, nil
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// validPayload checks the payload's shape for its packet type.
func validPayload(typ byte, data []byte) bool {
	if len(data) == 0 {
		return typ == typeConnect || typ == typeDisconnect
	}
	if typ == typeDisconnect || !wire.Valid(data) {
		return false
	}
	switch data = bytes.TrimLeft(data, " \t\r\n"); typ {
	case typeConnect:
		return data[0] == '{'
	case typeConnectError:
		return data[0] == '{' || data[0] == '"'
	case typeAck, typeBinaryAck:
		return data[0] == '['
	}
	// An event: the name, a string or a number, comes first.
	if data[0] != '[' {
		return false
	}
	first := bytes.TrimLeft(data[1:], " \t\r\n")
	return first[0] == '"' || first[0] == '-' || (first[0] >= '0' && first[0] <= '9')
}

// AppendHeader appends <type>[<n>-][<ns>,][<id>]; a negative id is none.
func AppendHeader(dst []byte, typ byte, attachments int, ns string, id int64) []byte {
	dst = append(dst, typ)
	if attachments > 0 {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if ns != "/" {
		dst = append(dst, ns...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return dst
}

// EncodeEvent encodes an EVENT packet of namespace ns: ["event", data], or
// ["event"] without data, or, when spread, ["event", args...] from data, a
// JSON array of the arguments. Binary marks become attachments (then a
// BINARY_EVENT).
func EncodeEvent(ns string, id int64, event string, data []byte, spread bool) ([]byte, [][]byte) {
	data, atts := extractBinary(data)
	typ := typeEvent
	if len(atts) > 0 {
		typ = typeBinaryEvent
	}
	b := AppendHeader(make([]byte, 0, 8+len(ns)+len(event)+len(data)), typ, len(atts), ns, id)
	b = append(b, '[')
	b = wire.AppendString(b, event)
	switch inner := arrayContents(data); {
	case spread && len(inner) > 0:
		b = append(b, ',')
		b = append(b, inner...)
	case !spread && data != nil:
		b = append(b, ',')
		b = append(b, data...)
	}
	return append(b, ']'), atts
}

// EncodeEventArgs is EncodeEvent with a string argument after the others.
func EncodeEventArgs(ns string, id int64, event string, data []byte, spread bool, last string) ([]byte, [][]byte) {
	b, atts := EncodeEvent(ns, id, event, data, spread)
	b = b[:len(b)-1]
	b = append(b, ',')
	b = wire.AppendString(b, last)
	return append(b, ']'), atts
}

// EncodeAck encodes an ACK whose arguments are [data], [] without data, or,
// when spread, the arguments of data, a JSON array.
func EncodeAck(ns string, id int64, data []byte, spread bool) ([]byte, [][]byte) {
	data, atts := extractBinary(data)
	typ := typeAck
	if len(atts) > 0 {
		typ = typeBinaryAck
	}
	b := AppendHeader(make([]byte, 0, 8+len(ns)+len(data)), typ, len(atts), ns, id)
	b = append(b, '[')
	if spread {
		b = append(b, arrayContents(data)...)
	} else {
		b = append(b, data...)
	}
	return append(b, ']'), atts
}

// arrayContents returns what is between the brackets of a JSON array,
// trimmed; nil for anything else.
func arrayContents(data []byte) []byte {
	data = bytes.TrimSpace(data)
	if len(data) < 2 || data[0] != '[' || data[len(data)-1] != ']' {
		return nil
	}
	return bytes.TrimSpace(data[1 : len(data)-1])
}

// extractBinary replaces binary marks with Socket.IO placeholders and
// returns the attachments in order.
func extractBinary(data []byte) ([]byte, [][]byte) {
	if !wire.HasBinary(data) {
		return data, nil
	}
	var atts [][]byte
	out := wire.ReplaceBinary(data, func(dst, b64 []byte) []byte {
		raw, _ := base64.StdEncoding.AppendDecode(nil, b64) // valid: ReplaceBinary checked it
		atts = append(atts, raw)
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(atts)-1), 10)
		return append(dst, '}')
	})
	return out, atts
}

// insertAttachments replaces the placeholders of a received binary packet,
// {"_placeholder":true,"num":n}, with the binary marks of their attachments,
// so that bytes reach handlers as bytes. The rest of the JSON is kept byte
// for byte. A placeholder naming no attachment is an error.
func insertAttachments(data []byte, atts [][]byte) ([]byte, error) {
	size := len(data)
	for _, a := range atts {
		size += base64.StdEncoding.EncodedLen(len(a)) + len(wire.BinaryKey) + 6
	}
	out := make([]byte, 0, size)
	last := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = wire.SkipString(data, i) - 1
		case '{':
			placeholder, num := false, []byte(nil)
			end := wire.FlatObject(data, i, func(key, value []byte) {
				switch string(key) {
				case `"_placeholder"`:
					placeholder = string(value) == "true"
				case `"num"`:
					num = value
				}
			})
			if end < 0 || !placeholder {
				continue
			}
			n, err := strconv.Atoi(string(num))
			if err != nil || n < 0 || n >= len(atts) {
				return nil, ErrPacket
			}
			out = append(out, data[last:i]...)
			out = wire.AppendBinary(out, atts[n])
			last, i = end, end-1
		}
	}
	return append(out, data[last:]...), nil
}

// EventArgs splits the data of an EVENT packet, ["name", args...], into an
// envelope: Args are the arguments as they came; Data is one argument
// itself, several as a JSON array, none as no data. A numeric name is taken
// as its decimal text. The name gets the same check as a native envelope's.
// The client's ack id k becomes the envelope id k+1, as envelope ids are
// positive. The problem is "" for a valid event. Parse has checked the
// shape of the data.
func EventArgs(p Packet) (wire.Envelope, string) {
	env := wire.Envelope{ID: p.ID + 1}
	var args []json.RawMessage
	if err := json.Unmarshal(p.Data, &args); err != nil || len(args) == 0 {
		return env, "event packet must be a JSON array starting with the event name"
	}
	if args[0][0] == '"' {
		if err := json.Unmarshal(args[0], &env.Event); err != nil {
			return env, "event name must be a string"
		}
	} else {
		env.Event = string(args[0])
	}
	if problem := wire.CheckName(env.Event); problem != wire.NameOK {
		msg := wire.Refusal(env.Event, problem)
		if problem == wire.NameTooLong {
			env.Event = ""
		}
		return env, msg
	}
	env.Args = args[1:]
	switch rest := env.Args; len(rest) {
	case 0:
	case 1:
		if string(rest[0]) != "null" {
			env.Data = rest[0]
		}
	default:
		b, _ := json.Marshal(rest)
		env.Data = b
	}
	return env, ""
}

// AckArgs turns the args of a client ACK into one value: none is nil, one
// is itself, several are an array.
func AckArgs(data []byte) json.RawMessage {
	var args []json.RawMessage
	if json.Unmarshal(data, &args) != nil {
		return nil
	}
	switch len(args) {
	case 0:
		return nil
	case 1:
		return args[0]
	}
	b, _ := json.Marshal(args)
	return b
}
