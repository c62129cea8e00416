package realtime

import (
	"encoding/json"
	"reflect"

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
	raw, ok := wire.DecodeBinary(data)
	if !ok {
		return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[Binary]()}
	}
	*b = raw
	return nil
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
