// Package history defines how a realtime server keeps the last messages of
// rooms, so that clients that lost their connection can be given what they
// missed and instances that lost their link to the broker can catch up.
//
// A Log keeps, per namespace, one sequence of positions shared by all the
// namespace's rooms: each message appended to a room's stream gets the next
// sequence number of its namespace, within an epoch. One number per
// namespace gives a client one offset to remember, whatever rooms it is in,
// and lets the messages of all its rooms be replayed in the order they were
// emitted. The epoch changes when the log loses its state (a Redis restarted
// empty), so that a position from before is never taken for one after.
//
// This package holds the Log interface, positions, the frame a log
// publishes, and in historytest a conformance suite. The implementations
// live in history/memory (one process) and history/redis (Redis Streams,
// appended and published in one round trip).
package history

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Position is a place in a namespace's log: an epoch and a sequence number
// (0 is before the first message of the epoch).
type Position struct {
	Epoch string
	Seq   uint64
}

// String returns the position as clients carry it: "<epoch>-<seq>".
func (p Position) String() string {
	return p.Epoch + "-" + strconv.FormatUint(p.Seq, 10)
}

// ParsePosition parses a position written by String.
func ParsePosition(s string) (Position, error) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || i > 64 || len(s)-i > 21 {
		return Position{}, ErrBadPosition
	}
	seq, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return Position{}, ErrBadPosition
	}
	for _, c := range s[:i] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return Position{}, ErrBadPosition // epochs are base 36
		}
	}
	return Position{Epoch: s[:i], Seq: seq}, nil
}

// Keep says how much of a room's stream a log keeps: its last Size
// messages, for TTL after the last one was appended.
type Keep struct {
	Size int
	TTL  time.Duration
}

// Entry is one message of a room's stream.
type Entry struct {
	Seq     uint64
	Payload []byte
}

// Errors of Read.
var (
	// ErrEpoch means the position is of another epoch than the log's: the
	// log lost its state since (or the position was never its own).
	ErrEpoch = errors.New("history: the position is of another epoch")
	// ErrGone means messages after the position are no longer kept:
	// trimmed past the stream's size, or expired with it.
	ErrGone = errors.New("history: messages after the position are no longer kept")
	// ErrFuture means the position is past the log's last one.
	ErrFuture = errors.New("history: the position is past the last one")
	// ErrBadPosition means a position string could not be parsed.
	ErrBadPosition = errors.New("history: malformed position")
)

// Log keeps the streams of rooms. Every method is safe for concurrent use
// and takes a context for cancellation and deadlines; a backend that is down
// returns an error promptly.
//
// Required behaviour, checked by historytest:
//   - Append gives each message the next position of its namespace (one
//     sequence for all its rooms), and the room's previous position in the
//     same epoch (0 for its first);
//   - when Append is given a broker topic, the log publishes the message's
//     Frame on it in the same step, so that frames on one topic are
//     published in the order of their positions;
//   - Read returns a room's entries after a position, in order, or ErrEpoch,
//     ErrGone or ErrFuture;
//   - a room keeps its last Keep.Size entries, and expires Keep.TTL after its
//     last append;
//   - after Close, methods return errors.
type Log interface {
	// Append adds payload to the stream of room in namespace ns and returns
	// its position and the sequence number of the room's previous entry in
	// the epoch (0 when it is the first). When topic is not empty, the
	// message's Frame is published on that broker topic in the same step.
	Append(ctx context.Context, ns, room string, payload []byte, keep Keep, topic string) (pos Position, prev uint64, err error)
	// Last returns the namespace's current position: its epoch and the
	// sequence number of its last message (0 when it has none; the epoch is
	// made then, so that positions handed out before a first message stay
	// valid after it).
	Last(ctx context.Context, ns string) (Position, error)
	// Read returns the entries of room after position after, up to and
	// including sequence number upto (0: no bound), in order. It returns
	// ErrEpoch when after is of another epoch, ErrFuture when after is past
	// the namespace's last position, and ErrGone when entries after it are
	// no longer all kept. The zero Position reads every entry kept.
	Read(ctx context.Context, ns, room string, after Position, upto uint64) ([]Entry, error)
	// Close releases the log's resources.
	Close() error
}

// The frame a Log publishes: a NUL byte and 'H' (no cluster message of the
// realtime core starts so), "<epoch> <seq> <prev>", a newline, the payload.
const framePrefix = "\x00H"

// Frame returns the bytes a log publishes for a message.
func Frame(pos Position, prev uint64, payload []byte) []byte {
	b := make([]byte, 0, len(framePrefix)+len(pos.Epoch)+len(payload)+44)
	b = append(b, framePrefix...)
	b = append(b, pos.Epoch...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, pos.Seq, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, prev, 10)
	b = append(b, '\n')
	return append(b, payload...)
}

// ParseFrame reads a frame published by a log. ok is false for anything
// else (an ordinary broker message).
func ParseFrame(b []byte) (pos Position, prev uint64, payload []byte, ok bool) {
	if len(b) < 2 || string(b[:2]) != framePrefix {
		return pos, 0, nil, false
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return pos, 0, nil, false
	}
	fields := strings.Fields(string(b[2:nl]))
	if len(fields) != 3 {
		return pos, 0, nil, false
	}
	seq, err1 := strconv.ParseUint(fields[1], 10, 64)
	prev, err2 := strconv.ParseUint(fields[2], 10, 64)
	if err1 != nil || err2 != nil {
		return pos, 0, nil, false
	}
	return Position{Epoch: fields[0], Seq: seq}, prev, b[nl+1:], true
}

// NewEpoch returns a fresh, random epoch name.
func NewEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:]), 36)
}
