package middleware_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// TestMain fails the package if any goroutine outlives the tests: every
// socket, read loop and write job must end with its server. The memory
// store of ulule/limiter runs a cleaner goroutine that only the garbage
// collector stops (a finalizer on the store), so it is not ours to wait for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.IgnoreLimiterCleaner())
}

// quiet is a Config whose own logger discards.
func quiet() realtime.Config {
	return realtime.Config{Logger: slog.New(slog.DiscardHandler)}
}

// headerAuth binds the user named by the X-User header; no header leaves
// the socket anonymous.
func headerAuth(c *realtime.Ctx) (*realtime.User, error) {
	if id := c.Request().Header.Get("X-User"); id != "" {
		return &realtime.User{ID: id}, nil
	}
	return nil, nil
}

// as returns dial options whose handshake names the user for headerAuth.
func as(user string) *realtimetest.Options {
	return &realtimetest.Options{Header: http.Header{"X-User": {user}}}
}

// ok is a handler that does nothing (the mux acks with no data).
func ok(*realtime.Ctx) error { return nil }

// wantError asserts err is an *realtime.Error with the code and returns it.
func wantError(t *testing.T, err error, code string) *realtime.Error {
	t.Helper()
	e, isErr := err.(*realtime.Error)
	if !isErr || e.Code != code {
		t.Fatalf("err = %v (%T), want code %s", err, err, code)
	}
	return e
}

// refusedConnect dials a socket the server is expected to refuse and returns
// the close code and the error object it was sent before the close.
func refusedConnect(t *testing.T, url string, opts *realtimetest.Options) (uint16, *realtime.Error, realtimetest.Message) {
	t.Helper()
	if opts == nil {
		opts = &realtimetest.Options{}
	}
	o := *opts
	o.SkipConnected = true
	cl := realtimetest.MustDial(t, url, &o)
	m, err := cl.Wait(testkit.Context(t), realtime.EventError)
	if err != nil {
		t.Fatalf("refused socket got no %s: %v", realtime.EventError, err)
	}
	e, err := m.ErrorData()
	if err != nil {
		t.Fatal(err)
	}
	code, err := cl.WaitClosed(testkit.Context(t))
	if err != nil {
		t.Fatalf("refused socket not closed: %v", err)
	}
	if n := cl.Count(realtime.EventConnected); n != 0 {
		t.Fatalf("refused socket got %s", realtime.EventConnected)
	}
	return code, e, m
}

// burst sends n envelopes of event in ONE frame, each with an ack id, so
// they reach the server faster than any bucket refills, and returns the acks
// in the order sent.
func burst(t testing.TB, cl *realtimetest.Client, event string, n int) []realtimetest.Message {
	t.Helper()
	var frame bytes.Buffer
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = cl.NextAckID()
		if i > 0 {
			frame.WriteByte('\n')
		}
		fmt.Fprintf(&frame, `{"event":%q,"id":%d}`, event, ids[i])
	}
	if err := cl.SendRaw(frame.Bytes()); err != nil {
		t.Fatal(err)
	}
	out := make([]realtimetest.Message, n)
	for i, id := range ids {
		m, err := cl.WaitAck(testkit.Context(t), id)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = m
	}
	return out
}

// outcome counts acks that passed and that were refused with RATE_LIMIT,
// and returns the smallest retryAfterMs of the refusals. Any other error
// fails the test.
func outcome(t testing.TB, acks []realtimetest.Message) (passed, limited int, minRetry float64) {
	t.Helper()
	minRetry = -1
	for _, m := range acks {
		switch {
		case m.Error == nil:
			passed++
		case m.Error.Code == realtime.CodeRateLimit:
			limited++
			d, _ := m.Error.Details.(map[string]any)
			r, isNum := d["retryAfterMs"].(float64)
			if !isNum {
				t.Fatalf("RATE_LIMIT without a numeric retryAfterMs: %s", m.Raw)
			}
			if minRetry < 0 || r < minRetry {
				minRetry = r
			}
		default:
			t.Fatalf("unexpected error %s", m.Raw)
		}
	}
	return passed, limited, minRetry
}

// logRecord is one record a recHandler received, attributes resolved.
type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

func (r logRecord) str(key string) string {
	s, _ := r.Attrs[key].(string)
	return s
}

// logRec is a slog backend for tests: it records every record handled,
// counts Handle and WithAttrs/WithGroup calls (the places where a handler
// formats), and records the levels Enabled was asked about.
type logRec struct {
	min slog.Level

	handles   atomic.Int64
	withCalls atomic.Int64

	mu       sync.Mutex
	enabled  []slog.Level
	records  []logRecord
	attrsPre []slog.Attr
}

func newLogRec(min slog.Level) *logRec { return &logRec{min: min} }

func (l *logRec) logger() *slog.Logger { return slog.New(recHandler{l: l}) }

// Records returns a copy of what was handled so far.
func (l *logRec) Records() []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

// EnabledLevels returns the levels Enabled was asked about.
func (l *logRec) EnabledLevels() []slog.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.enabled)
}

// find returns the records with the message whose attribute key has value.
func (l *logRec) find(msg, key, value string) []logRecord {
	var out []logRecord
	for _, r := range l.Records() {
		if r.Msg == msg && (key == "" || r.str(key) == value) {
			out = append(out, r)
		}
	}
	return out
}

type recHandler struct {
	l     *logRec
	attrs []slog.Attr
}

func (h recHandler) Enabled(_ context.Context, level slog.Level) bool {
	h.l.mu.Lock()
	h.l.enabled = append(h.l.enabled, level)
	h.l.mu.Unlock()
	return level >= h.l.min
}

func (h recHandler) Handle(_ context.Context, r slog.Record) error {
	h.l.handles.Add(1)
	rec := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]any{}}
	add := func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Resolve().Any()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.l.mu.Lock()
	h.l.records = append(h.l.records, rec)
	h.l.mu.Unlock()
	return nil
}

func (h recHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.l.withCalls.Add(1)
	return recHandler{l: h.l, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h recHandler) WithGroup(string) slog.Handler {
	h.l.withCalls.Add(1)
	return h
}

// ptrLogger is logger with a handler that is a pointer, as slog's own
// handlers are (the Ctx keeps a socket's attributes formatted only for
// those).
func (l *logRec) ptrLogger() *slog.Logger { return slog.New(&ptrRecHandler{recHandler{l: l}}) }

type ptrRecHandler struct{ recHandler }

func (h *ptrRecHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &ptrRecHandler{h.recHandler.WithAttrs(attrs).(recHandler)}
}
