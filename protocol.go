package realtime

import (
	"bytes"
	"encoding/json"
	"fmt"
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
// handler or the Validate stage asks for it, and may share the frame's
// memory. A successfully decoded native envelope leaves event empty and
// carries the name as bytes, so that a registered event costs no string.
type envelope struct {
	event string
	name  []byte
	data  json.RawMessage
	id    int64
}

// eventName returns the event name as a string.
func (e envelope) eventName() string {
	if e.event != "" {
		return e.event
	}
	return string(e.name)
}

func badMessage(msg string) *Error {
	return &Error{Code: CodeBadMessage, Message: msg}
}

// reservedName reports whether clients may not use name as an event.
func reservedName(name string) bool {
	return strings.HasPrefix(name, ReservedPrefix) || strings.HasPrefix(name, "$")
}

// The messages of decodeEnvelope's refusals.
const (
	msgNotUTF8     = "envelope is not valid UTF-8"
	msgNotJSON     = "envelope is not valid JSON"
	msgWrongTypes  = "envelope must be a JSON object whose event is a string"
	msgNoEvent     = "event is required"
	msgLongEvent   = "event name is longer than 128 bytes"
	msgBadID       = "id must be a positive integer"
	msgReservedFmt = "event name %s is reserved for the server"
)

// decodeEnvelope decodes one client envelope: a JSON object whose members
// "event", "data" and "id" matter (matched exactly; the last of duplicates
// wins; others are ignored). On failure it returns what it could read (the
// event name, the ack id) with a BAD_MESSAGE error, so the error can still be
// acked and attributed.
//
// It does not build the JSON: once the frame is known valid, it finds the
// three members' spans by skipping values, so a valid envelope of a known
// event costs no allocation, and nesting depth costs no stack.
func decodeEnvelope(b []byte) (envelope, *Error) {
	var env envelope
	if !utf8.Valid(b) {
		return env, badMessage(msgNotUTF8)
	}
	if !json.Valid(b) {
		return env, badMessage(msgNotJSON)
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return env, badMessage(msgWrongTypes)
	}
	var eventRaw, idRaw, dataRaw []byte
	i = skipSpace(b, i+1)
	for b[i] != '}' {
		keyEnd := skipString(b, i)
		key := unquote(b[i:keyEnd])
		i = skipSpace(b, keyEnd)
		i = skipSpace(b, i+1) // past ':'
		end := skipValue(b, i)
		val := b[i:end]
		switch string(key) {
		case "event":
			eventRaw = val
		case "data":
			dataRaw = val
		case "id":
			idRaw = val
		}
		i = skipSpace(b, end)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	// The event is read first, so that the errors below can name it.
	eventIsString := len(eventRaw) > 0 && eventRaw[0] == '"'
	if eventIsString {
		env.name = unquote(eventRaw)
	}
	tooLong := len(env.name) > MaxEventNameBytes
	fail := func(msg string) (envelope, *Error) {
		if !tooLong {
			env.event = string(env.name)
		}
		env.name = nil
		return env, badMessage(msg)
	}
	if len(idRaw) > 0 && string(idRaw) != "null" {
		id, perr := strconv.ParseInt(string(idRaw), 10, 64)
		if perr != nil || id <= 0 {
			return fail(msgBadID)
		}
		env.id = id
	}
	if len(eventRaw) > 0 && !eventIsString && string(eventRaw) != "null" {
		return fail(msgWrongTypes)
	}
	switch {
	case tooLong:
		return fail(msgLongEvent)
	case len(env.name) == 0:
		return fail(msgNoEvent)
	case bytes.HasPrefix(env.name, []byte(ReservedPrefix)) || bytes.HasPrefix(env.name, []byte("$")):
		return fail(fmt.Sprintf(msgReservedFmt, strconv.Quote(string(env.name))))
	}
	if len(dataRaw) > 0 && string(dataRaw) != "null" {
		env.data = dataRaw
	}
	return env, nil
}

// unquote returns the contents of a valid JSON string token: the bytes
// themselves when there is no escape, a decoded copy otherwise.
func unquote(tok []byte) []byte {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var s string
	_ = json.Unmarshal(tok, &s)
	return []byte(s)
}

// The skip functions walk JSON already checked by json.Valid.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string token at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
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
