package middleware

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/lolyjs/realtime"
)

// RequestID gives every event, connects and disconnects included, a fresh
// server-generated id: a UUID version 7, so ids sort by time. It is on the
// Ctx (Ctx.RequestID), in every error object sent for the event and in every
// log line written through Ctx.Logger. Clients cannot choose it.
//
// Within the process the ids strictly increase: the 12 bits after the
// millisecond count the ids of that millisecond (RFC 9562's method 3), and
// the last 62 bits are random.
func RequestID(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		c.SetRequestID(newRequestID())
		return next(c)
	}
}

// lastRequestID is the millisecond and counter of the last id made, as
// ms<<12 | counter. An id takes the next value above it, so a burst of more
// than 4096 ids in a millisecond borrows the next millisecond rather than
// repeat or go back.
var lastRequestID atomic.Uint64

// newRequestID makes a UUID v7 and formats it on the stack: one allocation,
// the string, where uuid.NewV7 and String make two and read the random bits
// from the system. The random bits need not be secret (the id is no
// credential), only unlikely to repeat across instances.
func newRequestID() string {
	now := uint64(time.Now().UnixMilli()) << 12
	var stamp uint64
	for {
		last := lastRequestID.Load()
		stamp = max(now, last+1)
		if lastRequestID.CompareAndSwap(last, stamp) {
			break
		}
	}
	var u [16]byte
	// 48 bits of milliseconds, the version, 12 bits of counter.
	binary.BigEndian.PutUint64(u[:8], stamp>>12<<16|0x7000|stamp&0xfff)
	// The variant, 62 random bits.
	binary.BigEndian.PutUint64(u[8:], rand.Uint64()>>2|0x8000000000000000)
	return formatUUID(&u)
}

const hexDigits = "0123456789abcdef"

func formatUUID(u *[16]byte) string {
	var b [36]byte
	j := 0
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexDigits[x>>4], hexDigits[x&0xf]
		j += 2
	}
	return string(b[:])
}
