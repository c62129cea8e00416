// Package wire is the codec of the native protocol, loly.v1: the client's
// envelopes decoded without building their JSON, frames split into
// envelopes, the server's envelopes appended to byte slices, and the one
// check of event names that every path uses. It knows nothing of sockets
// or handlers; docs/protocol.md is its specification.
package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Protocol facts. See docs/protocol.md.
const (
	// Subprotocol is the WebSocket subprotocol name of the native protocol.
	Subprotocol = "loly.v1"
	// ReservedPrefix starts the names of events only the server may send.
	ReservedPrefix = "__loly:"
	// LifecyclePrefix starts the names of the lifecycle events ($connect).
	LifecyclePrefix = "$"
	// MaxEventNameBytes is the longest event name accepted.
	MaxEventNameBytes = 128
)

// NameProblem is what is wrong with an event name a client may send.
type NameProblem uint8

// The problems CheckName finds.
const (
	NameOK NameProblem = iota
	NameEmpty
	NameTooLong
	NameReserved  // starts with ReservedPrefix
	NameLifecycle // starts with LifecyclePrefix
)

// CheckName is the one check of an event name, for route definitions and
// for every decoder: 1 to MaxEventNameBytes bytes, not reserved. It costs
// no allocation on bytes.
func CheckName[T string | []byte](name T) NameProblem {
	switch {
	case len(name) == 0:
		return NameEmpty
	case len(name) > MaxEventNameBytes:
		return NameTooLong
	case hasPrefix(name, ReservedPrefix):
		return NameReserved
	case hasPrefix(name, LifecyclePrefix):
		return NameLifecycle
	}
	return NameOK
}

func hasPrefix[T string | []byte](s T, prefix string) bool {
	return len(s) >= len(prefix) && string(s[:len(prefix)]) == prefix
}

// Refusal returns the message a client gets for an event name with problem
// p (a BAD_MESSAGE), or "" for NameOK.
func Refusal(name string, p NameProblem) string {
	switch p {
	case NameEmpty:
		return msgNoEvent
	case NameTooLong:
		return msgLongEvent
	case NameReserved, NameLifecycle:
		return fmt.Sprintf(msgReservedFmt, strconv.Quote(name))
	}
	return ""
}

// Envelope is one decoded client message. Data stays raw JSON, possibly
// sharing the frame's memory. A decoded envelope carries its name as bytes
// of the frame (Name), so that a registered event costs no string; Event is
// set instead when the name had to be copied (a refusal, a name with
// escapes).
type Envelope struct {
	Event string
	Name  []byte
	Data  json.RawMessage
	ID    int64
	// Args are the event's arguments as they came, from a protocol with
	// several per event (Socket.IO); Data is then one argument itself,
	// several as a JSON array. Nil from the native protocol.
	Args []json.RawMessage
}

// EventName returns the event name as a string.
func (e Envelope) EventName() string {
	if e.Event != "" {
		return e.Event
	}
	return string(e.Name)
}

// The messages of Decode's refusals.
const (
	msgNotUTF8     = "envelope is not valid UTF-8"
	msgNotJSON     = "envelope is not valid JSON"
	msgWrongTypes  = "envelope must be a JSON object whose event is a string"
	msgNoEvent     = "event is required"
	msgLongEvent   = "event name is longer than 128 bytes"
	msgBadID       = "id must be a positive integer"
	msgReservedFmt = "event name %s is reserved for the server"
)

// Decode decodes one client envelope: a JSON object whose members "event",
// "data" and "id" matter (matched exactly; the last of duplicates wins;
// others are ignored). On failure it returns what it could read (the event
// name, the ack id) with the refusal's message, so the error can still be
// acked and attributed; the message is "" on success.
//
// It does not build the JSON: the one pass that checks it (as Valid does)
// finds the three members' spans, so a valid envelope of a known event
// costs no allocation, and nesting depth costs no call stack.
func Decode(b []byte) (Envelope, string) {
	var env Envelope
	if !utf8.Valid(b) {
		return env, msgNotUTF8
	}
	// One pass checks the JSON and finds the members' spans.
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		if !Valid(b) {
			return env, msgNotJSON
		}
		return env, msgWrongTypes
	}
	var eventRaw, idRaw, dataRaw []byte
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return env, msgNotJSON
			}
			keyEnd := validString(b, i)
			if keyEnd < 0 {
				return env, msgNotJSON
			}
			key := b[i:keyEnd]
			if i = skipSpace(b, keyEnd); i >= len(b) || b[i] != ':' {
				return env, msgNotJSON
			}
			i = skipSpace(b, i+1)
			end := validValue(b, i, maxDepth-1) // inside the envelope
			if end < 0 {
				return env, msgNotJSON
			}
			val := b[i:end]
			switch string(unquote(key)) {
			case "event":
				eventRaw = val
			case "data":
				dataRaw = val
			case "id":
				idRaw = val
			}
			if i = skipSpace(b, end); i >= len(b) {
				return env, msgNotJSON
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return env, msgNotJSON
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return env, msgNotJSON
	}
	// The event is read first, so that the refusals below can name it.
	eventIsString := len(eventRaw) > 0 && eventRaw[0] == '"'
	if eventIsString {
		env.Name = unquote(eventRaw)
	}
	problem := CheckName(env.Name)
	fail := func(msg string) (Envelope, string) {
		if problem != NameTooLong {
			env.Event = string(env.Name)
		}
		env.Name = nil
		return env, msg
	}
	if len(idRaw) > 0 && string(idRaw) != "null" {
		id, perr := strconv.ParseInt(string(idRaw), 10, 64)
		if perr != nil || id <= 0 {
			return fail(msgBadID)
		}
		env.ID = id
	}
	if len(eventRaw) > 0 && !eventIsString && string(eventRaw) != "null" {
		return fail(msgWrongTypes)
	}
	if problem != NameOK {
		return fail(Refusal(string(env.Name), problem))
	}
	if len(dataRaw) > 0 && string(dataRaw) != "null" {
		env.Data = dataRaw
	}
	return env, ""
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

// The skip functions walk JSON already checked (by Valid or Decode).

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

// Split calls fn for each non-blank envelope of a frame, in order.
func Split(frame []byte, fn func([]byte)) {
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

// AppendString appends s as a JSON string.
func AppendString(dst []byte, s string) []byte {
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

// AppendEvent appends {"event":event,"data":data}; data is JSON or nil.
func AppendEvent(dst []byte, event string, data []byte) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendString(dst, event)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// AppendAck appends {"ack":id,"data":data}; data is JSON or nil.
func AppendAck(dst []byte, id int64, data []byte) []byte {
	dst = append(dst, `{"ack":`...)
	dst = strconv.AppendInt(dst, id, 10)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// AppendAckError appends {"ack":id,"error":errJSON}.
func AppendAckError(dst []byte, id int64, errJSON []byte) []byte {
	dst = append(dst, `{"ack":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"error":`...)
	dst = append(dst, errJSON...)
	return append(dst, '}')
}
