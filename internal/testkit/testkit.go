// Package testkit is what the tests of this module share: contexts bounded
// by their test, polling for a condition, requests that must succeed, a log
// sink safe for concurrent writes, and the goroutines goleak is told to
// ignore. Only test files import it.
//
// It imports none of the module's packages, so that the tests of every
// package, internal ones included, may use it without an import cycle.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Timeout bounds what Context, Eventually and Request wait for. It only
// decides how long a failing test takes to fail; no test asserts it.
const Timeout = 10 * time.Second

// Context returns a context that ends after Timeout or with the test,
// whichever comes first.
func Context(tb testing.TB) context.Context {
	return ContextWithin(tb, Timeout)
}

// ContextWithin returns a context that ends after d or with the test,
// whichever comes first.
func ContextWithin(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds, and fails the test, naming what it
// waited for, if it still does not after Timeout.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Requester sends an event with an ack id and waits for the ack, as
// realtimetest.Client does.
type Requester interface {
	Request(ctx context.Context, event string, data any) (json.RawMessage, error)
}

// Request sends a request that must be acknowledged within Timeout, and
// returns the ack's data. An error ack or no ack fails the test.
func Request(tb testing.TB, c Requester, event string, data any) json.RawMessage {
	tb.Helper()
	return RequestWithin(tb, Timeout, c, event, data)
}

// RequestWithin is Request with the ack awaited for d.
func RequestWithin(tb testing.TB, d time.Duration, c Requester, event string, data any) json.RawMessage {
	tb.Helper()
	got, err := c.Request(ContextWithin(tb, d), event, data)
	if err != nil {
		tb.Fatalf("%s: %v", event, err)
	}
	return got
}

// LogBuffer is a log sink safe for concurrent writes. The zero value is
// ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// JSONLines decodes the lines written so far, one JSON object each, as
// slog's JSON handler writes them. A line that is not JSON fails the test.
func (b *LogBuffer) JSONLines(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// IgnoreLimiterCleaner tells goleak to ignore the cleaner goroutine of
// ulule/limiter's memory store, which stops only once the garbage collector
// finalizes its store.
// Packages whose tests build middleware.RateLimit pass it to
// goleak.VerifyTestMain.
func IgnoreLimiterCleaner() goleak.Option {
	return goleak.IgnoreTopFunction("github.com/ulule/limiter/v3/drivers/store/memory.(*cleaner).Run")
}
