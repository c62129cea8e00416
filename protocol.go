package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Protocol facts shared by the codec and the checks. See docs/protocol.md.
const (
	// Subprotocol is the WebSocket subprotocol name of the native protocol.
	Subprotocol = "loly.v1"
	// ReservedPrefix starts the names of events only the server may send.
	ReservedPrefix = "__loly:"
	// EventError is the event that carries error objects to clients.
	EventError = "__loly:error"
	// EventConnected is the first event a socket receives once accepted.
	EventConnected = "__loly:connected"
	// EventConnect is the name of the lifecycle event run when a socket
	// arrives; clients cannot send it.
	EventConnect = "$connect"
	// EventDisconnect is the name of the lifecycle event run when a socket
	// leaves; clients cannot send it.
	EventDisconnect = "$disconnect"
	// MaxEventNameBytes is the longest event name accepted.
	MaxEventNameBytes = 128
)

// envelope is one decoded client message. data stays raw JSON until a
// handler or the Validate stage asks for it.
type envelope struct {
	event string
	data  json.RawMessage
	id    int64
}

// wireEnvelope is the client envelope as encoding/json sees it; id is raw so
// that "7", 7.5 and -1 can be told apart from 7.
type wireEnvelope struct {
	Event *string         `json:"event"`
	Data  json.RawMessage `json:"data"`
	ID    json.RawMessage `json:"id"`
}

func badMessage(msg string) *Error {
	return &Error{Code: CodeBadMessage, Message: msg}
}

// reservedName reports whether clients may not use name as an event.
func reservedName(name string) bool {
	return strings.HasPrefix(name, ReservedPrefix) || strings.HasPrefix(name, "$")
}

// decodeEnvelope decodes one client envelope. On failure it returns what it
// could read (the event name, the ack id) with a BAD_MESSAGE error, so the
// error can still be acked and attributed.
func decodeEnvelope(b []byte) (envelope, *Error) {
	var env envelope
	if !utf8.Valid(b) {
		return env, badMessage("envelope is not valid UTF-8")
	}
	var w wireEnvelope
	err := json.Unmarshal(b, &w)
	var typeErr *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &typeErr) {
		return env, badMessage("envelope is not valid JSON")
	}
	// encoding/json fills the fields it can despite a type error, so the
	// event survives a bad id and the ack id a wrongly typed event: the error
	// can still be attributed and acked.
	if w.Event != nil && len(*w.Event) <= MaxEventNameBytes {
		env.event = *w.Event
	}
	if len(w.ID) > 0 && string(w.ID) != "null" {
		id, perr := strconv.ParseInt(string(w.ID), 10, 64)
		if perr != nil || id <= 0 {
			return env, badMessage("id must be a positive integer")
		}
		env.id = id
	}
	if err != nil {
		return env, badMessage("envelope must be a JSON object whose event is a string")
	}
	if w.Event == nil {
		return env, badMessage("event is required")
	}
	switch {
	case *w.Event == "":
		return env, badMessage("event is required")
	case len(*w.Event) > MaxEventNameBytes:
		return env, badMessage("event name is longer than 128 bytes")
	case reservedName(env.event):
		return env, badMessage("event name " + strconv.Quote(env.event) + " is reserved for the server")
	}
	if len(w.Data) > 0 && string(w.Data) != "null" {
		env.data = w.Data
	}
	return env, nil
}

// splitFrame calls fn for each non-empty envelope in a frame, in order.
func splitFrame(frame []byte, fn func([]byte)) {
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		var line []byte
		if i < 0 {
			line, frame = frame, nil
		} else {
			line, frame = frame[:i], frame[i+1:]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			fn(line)
		}
	}
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

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendEvent appends {"event":event,"data":data}; data is JSON or nil.
func appendEvent(dst []byte, event string, data []byte) []byte {
	dst = append(dst, `{"event":`...)
	dst = appendJSONString(dst, event)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// appendAck appends {"ack":id,"data":data}; data is JSON or nil.
func appendAck(dst []byte, id int64, data []byte) []byte {
	dst = append(dst, `{"ack":`...)
	dst = strconv.AppendInt(dst, id, 10)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// appendAckError appends {"ack":id,"error":errJSON}.
func appendAckError(dst []byte, id int64, errJSON []byte) []byte {
	dst = append(dst, `{"ack":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"error":`...)
	dst = append(dst, errJSON...)
	return append(dst, '}')
}
