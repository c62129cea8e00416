package realtime

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
)

// Socket.IO v5 packet types.
const (
	sioConnect      byte = '0'
	sioDisconnect   byte = '1'
	sioEvent        byte = '2'
	sioAck          byte = '3'
	sioConnectError byte = '4'
	sioBinaryEvent  byte = '5'
	sioBinaryAck    byte = '6'
)

// sioPacket is one decoded Socket.IO packet. data is the JSON after the
// header, placeholders not yet replaced.
type sioPacket struct {
	typ         byte
	ns          string
	id          int64 // -1: no ack asked (socket.io-client counts from 0)
	attachments int
	data        []byte
}

var errSIOPacket = errors.New("malformed Socket.IO packet")

// maxAttachments bounds the binary attachments one packet may announce.
const maxAttachments = 64

// parseSIO decodes a Socket.IO packet:
// <type>[<attachments>-][<namespace>,][<ack id>][<JSON>].
func parseSIO(b []byte) (sioPacket, error) {
	var p sioPacket
	if len(b) == 0 || b[0] < sioConnect || b[0] > sioBinaryAck {
		return p, errSIOPacket
	}
	p.typ, b = b[0], b[1:]
	if p.typ == sioBinaryEvent || p.typ == sioBinaryAck {
		i := bytes.IndexByte(b, '-')
		if i <= 0 || i > 3 {
			return p, errSIOPacket
		}
		n, err := strconv.Atoi(string(b[:i]))
		if err != nil || n < 0 || n > maxAttachments {
			return p, errSIOPacket
		}
		p.attachments, b = n, b[i+1:]
	}
	p.ns, p.id = "/", -1
	if len(b) > 0 && b[0] == '/' {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			p.ns, b = string(b), nil
		} else {
			p.ns, b = string(b[:i]), b[i+1:]
		}
		if q := bytes.IndexByte([]byte(p.ns), '?'); q >= 0 {
			p.ns = p.ns[:q] // query strings on namespaces are not used
		}
	}
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > 0 {
		id, err := strconv.ParseInt(string(b[:i]), 10, 64)
		if err != nil {
			return p, errSIOPacket
		}
		p.id, b = id, b[i:]
	}
	p.data = b
	return p, nil
}

// appendSIOHeader appends <type>[<n>-][<ns>,][<id>]; a negative id is none.
func appendSIOHeader(dst []byte, typ byte, attachments int, ns string, id int64) []byte {
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

// sioMessage is a message encoded as one Socket.IO EVENT (or BINARY_EVENT)
// packet of one namespace, with its binary attachments.
type sioMessage struct {
	ns          string
	packet      []byte
	attachments [][]byte
}

// sioEncoding returns the message as a Socket.IO event of namespace ns.
func (m *message) sioEncoding(ns string) *sioMessage {
	if m.sio != nil && m.sio.ns == ns {
		return m.sio
	}
	m.sio = encodeSIOEvent(ns, -1, m.event, m.data)
	return m.sio
}

// encodeSIOEvent encodes ["event", data] (or ["event"] without data),
// turning Binary values into attachments.
func encodeSIOEvent(ns string, id int64, event string, data []byte) *sioMessage {
	var atts [][]byte
	if hasBinary(data) {
		data, atts = extractBinary(data)
	}
	typ := sioEvent
	if len(atts) > 0 {
		typ = sioBinaryEvent
	}
	b := appendSIOHeader(make([]byte, 0, 8+len(ns)+len(event)+len(data)), typ, len(atts), ns, id)
	b = append(b, '[')
	b = appendJSONString(b, event)
	if data != nil {
		b = append(b, ',')
		b = append(b, data...)
	}
	b = append(b, ']')
	return &sioMessage{ns: ns, packet: b, attachments: atts}
}

// encodeSIOAck encodes an ACK with args [data], or [] without data.
func encodeSIOAck(ns string, id int64, data []byte) *sioMessage {
	var atts [][]byte
	if hasBinary(data) {
		data, atts = extractBinary(data)
	}
	typ := sioAck
	if len(atts) > 0 {
		typ = sioBinaryAck
	}
	b := appendSIOHeader(nil, typ, len(atts), ns, id)
	b = append(b, '[')
	b = append(b, data...)
	b = append(b, ']')
	return &sioMessage{ns: ns, packet: b, attachments: atts}
}

// Binary is a byte slice that travels as binary where the protocol can carry
// it: a Socket.IO attachment, which a JavaScript client receives as an
// ArrayBuffer or Buffer. In the native protocol, which is JSON text, it is
// a base64 string. Binary received from a Socket.IO client reaches handlers
// as a base64 string in the data, so Bind and Typed decode it into a Binary
// or []byte field.
type Binary []byte

// binaryKey marks an encoded Binary until the wire format is chosen.
const binaryKey = `"_lolybin"`

// MarshalJSON encodes the bytes with a marker that each wire format turns
// into its own form of binary.
func (b Binary) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(b))+16)
	out = append(out, `{`+binaryKey+`:"`...)
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, `"}`...), nil
}

func hasBinary(data []byte) bool { return bytes.Contains(data, []byte(binaryKey)) }

// walkBinary rebuilds a JSON value, replacing each Binary marker with what
// replace returns for its bytes.
func walkBinary(data []byte, replace func([]byte) any) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return data
	}
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			if s, ok := t["_lolybin"].(string); ok && len(t) == 1 {
				raw, err := base64.StdEncoding.DecodeString(s)
				if err == nil {
					return replace(raw)
				}
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
	out, err := json.Marshal(walk(v))
	if err != nil {
		return data
	}
	return out
}

// extractBinary replaces Binary markers with Socket.IO placeholders and
// returns the attachments in order.
func extractBinary(data []byte) ([]byte, [][]byte) {
	var atts [][]byte
	out := walkBinary(data, func(raw []byte) any {
		atts = append(atts, raw)
		return map[string]any{"_placeholder": true, "num": len(atts) - 1}
	})
	return out, atts
}

// nativeBinary replaces Binary markers with base64 strings.
func nativeBinary(data []byte) []byte {
	return walkBinary(data, func(raw []byte) any { return base64.StdEncoding.EncodeToString(raw) })
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
					bad = errSIOPacket
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

// sioEventArgs splits the data of an EVENT packet, ["name", args...], into
// an envelope: one argument is the data, several are a JSON array, none is
// no data. The same checks as for native envelopes apply to the name. The
// client's ack id k becomes the envelope id k+1, as envelope ids are
// positive.
func sioEventArgs(p sioPacket) (envelope, *Error) {
	env := envelope{id: p.id + 1}
	var args []json.RawMessage
	if err := json.Unmarshal(p.data, &args); err != nil || len(args) == 0 {
		return env, badMessage("event packet must be a JSON array starting with the event name")
	}
	if err := json.Unmarshal(args[0], &env.event); err != nil {
		return env, badMessage("event name must be a string")
	}
	switch {
	case env.event == "":
		return env, badMessage("event is required")
	case len(env.event) > MaxEventNameBytes:
		env.event = ""
		return env, badMessage("event name is longer than 128 bytes")
	case reservedName(env.event):
		return env, badMessage("event name " + strconv.Quote(env.event) + " is reserved for the server")
	}
	switch rest := args[1:]; len(rest) {
	case 0:
	case 1:
		if string(rest[0]) != "null" {
			env.data = rest[0]
		}
	default:
		b, _ := json.Marshal(rest)
		env.data = b
	}
	return env, nil
}

// sioAckArgs turns the args of a client ACK into one value: none is nil,
// one is itself, several are an array.
func sioAckArgs(data []byte) json.RawMessage {
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
