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

// maxAttachments bounds the binary attachments one packet may announce.
const maxAttachments = 64

// Parse decodes a Socket.IO packet:
// <type>[<attachments>-][<namespace>,][<ack id>][<JSON>].
func Parse(b []byte) (Packet, error) {
	var p Packet
	if len(b) == 0 || b[0] < typeConnect || b[0] > typeBinaryAck {
		return p, ErrPacket
	}
	p.Type, b = b[0], b[1:]
	if p.Type == typeBinaryEvent || p.Type == typeBinaryAck {
		i := bytes.IndexByte(b, '-')
		if i <= 0 || i > 3 {
			return p, ErrPacket
		}
		n, err := strconv.Atoi(string(b[:i]))
		if err != nil || n < 0 || n > maxAttachments {
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
	return p, nil
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

// EncodeEvent encodes ["event", data] (or ["event"] without data) as an
// EVENT packet of namespace ns, turning binary marks into attachments
// (then a BINARY_EVENT).
func EncodeEvent(ns string, id int64, event string, data []byte) ([]byte, [][]byte) {
	var atts [][]byte
	if wire.HasBinary(data) {
		data, atts = extractBinary(data)
	}
	typ := typeEvent
	if len(atts) > 0 {
		typ = typeBinaryEvent
	}
	b := AppendHeader(make([]byte, 0, 8+len(ns)+len(event)+len(data)), typ, len(atts), ns, id)
	b = append(b, '[')
	b = wire.AppendString(b, event)
	if data != nil {
		b = append(b, ',')
		b = append(b, data...)
	}
	b = append(b, ']')
	return b, atts
}

// EncodeEventArgs is EncodeEvent with a string argument after the data
// (after the event name when there is no data).
func EncodeEventArgs(ns string, id int64, event string, data []byte, last string) ([]byte, [][]byte) {
	b, atts := EncodeEvent(ns, id, event, data)
	b = b[:len(b)-1]
	b = append(b, ',')
	b = wire.AppendString(b, last)
	return append(b, ']'), atts
}

// EncodeAck encodes an ACK with args [data], or [] without data.
func EncodeAck(ns string, id int64, data []byte) ([]byte, [][]byte) {
	var atts [][]byte
	if wire.HasBinary(data) {
		data, atts = extractBinary(data)
	}
	typ := typeAck
	if len(atts) > 0 {
		typ = typeBinaryAck
	}
	b := AppendHeader(nil, typ, len(atts), ns, id)
	b = append(b, '[')
	b = append(b, data...)
	b = append(b, ']')
	return b, atts
}

// extractBinary replaces binary marks with Socket.IO placeholders and
// returns the attachments in order.
func extractBinary(data []byte) ([]byte, [][]byte) {
	var atts [][]byte
	out := wire.WalkBinary(data, func(raw []byte) any {
		atts = append(atts, raw)
		return map[string]any{"_placeholder": true, "num": len(atts) - 1}
	})
	return out, atts
}

// insertAttachments replaces the placeholders of a received binary packet
// with base64 strings of their attachments.
func insertAttachments(data []byte, atts [][]byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var bad error
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			if ph, _ := t["_placeholder"].(bool); ph {
				num, _ := t["num"].(json.Number)
				n, err := num.Int64()
				if err != nil || n < 0 || int(n) >= len(atts) {
					bad = ErrPacket
					return nil
				}
				return base64.StdEncoding.EncodeToString(atts[n])
			}
			for k, e := range t {
				t[k] = walk(e)
			}
		case []any:
			for i, e := range t {
				t[i] = walk(e)
			}
		}
		return v
	}
	out := walk(v)
	if bad != nil {
		return nil, bad
	}
	return json.Marshal(out)
}

// EventArgs splits the data of an EVENT packet, ["name", args...], into an
// envelope: one argument is the data, several are a JSON array, none is no
// data. The name gets the same check as a native envelope's. The client's
// ack id k becomes the envelope id k+1, as envelope ids are positive. The
// problem is "" for a valid event.
func EventArgs(p Packet) (wire.Envelope, string) {
	env := wire.Envelope{ID: p.ID + 1}
	var args []json.RawMessage
	if err := json.Unmarshal(p.Data, &args); err != nil || len(args) == 0 {
		return env, "event packet must be a JSON array starting with the event name"
	}
	if err := json.Unmarshal(args[0], &env.Event); err != nil {
		return env, "event name must be a string"
	}
	if problem := wire.CheckName(env.Event); problem != wire.NameOK {
		msg := wire.Refusal(env.Event, problem)
		if problem == wire.NameTooLong {
			env.Event = ""
		}
		return env, msg
	}
	switch rest := args[1:]; len(rest) {
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
