package realtime

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/wire"
)

// Protocol facts shared by the codecs and the checks. See docs/protocol.md.
const (
	// Subprotocol is the WebSocket subprotocol name of the native protocol.
	Subprotocol = wire.Subprotocol
	// ReservedPrefix starts the names of events only the server may send.
	ReservedPrefix = wire.ReservedPrefix
	// EventError is the event that carries error objects to clients.
	EventError = ReservedPrefix + "error"
	// EventConnected is the first event a socket receives once accepted.
	EventConnected = ReservedPrefix + "connected"
	// EventConnect is the name of the lifecycle event run when a socket
	// arrives; clients cannot send it.
	EventConnect = wire.LifecyclePrefix + "connect"
	// EventDisconnect is the name of the lifecycle event run when a socket
	// leaves; clients cannot send it.
	EventDisconnect = wire.LifecyclePrefix + "disconnect"
	// MaxEventNameBytes is the longest event name accepted.
	MaxEventNameBytes = wire.MaxEventNameBytes
)

// Binary is a byte slice that travels as binary where the protocol can carry
// it: a Socket.IO attachment, which a JavaScript client receives as an
// ArrayBuffer or Buffer. In the native protocol, which is JSON text, it is
// a base64 string.
//
// Binary a Socket.IO client sends stays binary: in Ctx.Data and Ctx.Args
// each attachment is a mark, {"_lolybin":"<base64>"}, that goes back out as
// binary when sent on as it is; Bind and Typed decode it into a Binary or
// []byte field (a native client's base64 string too).
type Binary []byte

// MarshalJSON encodes the bytes with a mark that each wire format turns
// into its own form of binary.
func (b Binary) MarshalJSON() ([]byte, error) {
	return wire.AppendBinary(nil, b), nil
}

// UnmarshalJSON decodes a mark of binary, a base64 string or null.
func (b *Binary) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var mark struct {
			B *string `json:"_lolybin"` // wire.BinaryKey
		}
		if json.Unmarshal(data, &mark) != nil || mark.B == nil {
			return &json.UnmarshalTypeError{Value: "object", Type: reflect.TypeFor[Binary]()}
		}
		data = []byte(strconv.Quote(*mark.B))
	}
	var raw []byte
	if err := json.Unmarshal(data, &raw); err != nil {
		return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[Binary]()}
	}
	*b = raw
	return nil
}

// argsMessage is the message of an event with several arguments: one is
// the event's data, none is no data, several are a JSON array that codecs
// with several arguments per event spread.
func argsMessage(event string, args []any) (*link.Message, error) {
	switch len(args) {
	case 0:
		return link.NewMessage(event, nil), nil
	case 1:
		data, err := json.Marshal(args[0])
		if err != nil {
			return nil, err
		}
		return link.NewMessage(event, data), nil
	}
	data, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	return &link.Message{Event: event, Data: data, Spread: true}, nil
}

// encodeData turns a value into the JSON an envelope carries. nil stays nil
// (no data field). A json.RawMessage is checked and compacted like any other
// json.Marshaler, so a newline inside it cannot split the frame.
func encodeData(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}
