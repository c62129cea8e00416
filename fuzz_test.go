package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Fuzz targets of the codec and of route checks. `go test` replays the seeds
// below and the corpora under testdata/fuzz; scripts/fuzz.sh runs each one
// with -fuzz for a set time. A crash the fuzzer finds is written to
// testdata/fuzz/<Target>/ and so becomes a regression test of plain
// `go test`.

// envelopeSeeds are the inputs every fuzz run starts from: valid envelopes,
// each row of the protocol's BAD_MESSAGE table, and hostile shapes.
var envelopeSeeds = []string{
	`{"event":"chat:send","data":{"text":"hi"},"id":7}`,
	`{"event":"echo"}`,
	`{"event":"echo","data":null,"id":null}`,
	`{"event":"echo","data":[1,2,3],"id":9223372036854775807}`,
	`{"event":"echo","id":9223372036854775808}`,
	`{"event":"echo","id":0}`,
	`{"event":"echo","id":-1}`,
	`{"event":"echo","id":1.5}`,
	`{"event":"echo","id":"7"}`,
	`{"event":"echo","id":1e2}`,
	`{"event":5,"id":3}`,
	`{"event":null}`,
	`{"event":""}`,
	`{"data":1}`,
	`["echo"]`,
	`"echo"`,
	`null`,
	``,
	`{`,
	`{"event":"__loly:error"}`,
	`{"event":"$connect","id":2}`,
	`{"event":"a","event":"b"}`,
	`{"EVENT":"echo","ID":4}`,
	`{"event":"e\u0000v"}`,
	"{\"event\":\"\xff\xfe\"}",
	`{"event":"\ud800"}`,
	`{"event":"echo","data":1e999999}`,
	`{"event":"echo","data":123456789012345678901234567890}`,
	`{"event":"echo","data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	`{"event":"` + strings.Repeat("x", MaxEventNameBytes) + `"}`,
	`{"event":"` + strings.Repeat("x", MaxEventNameBytes+1) + `","id":5}`,
	` {"event":"echo"} `,
	`{"event":"echo"} {"event":"again"}`,
}

// FuzzDecodeEnvelope checks that no input makes decodeEnvelope panic, and
// that what it accepts and refuses follows the protocol: an accepted envelope
// has a valid event name, a positive id or none, and data that is valid JSON;
// a refusal is BAD_MESSAGE with a short, valid message that carries no
// internal strings.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		env, err := decodeEnvelope(b)
		if !bytes.Equal(in, b) {
			t.Fatal("decodeEnvelope modified its input")
		}
		if len(env.eventName()) > MaxEventNameBytes {
			t.Fatalf("event name of %d bytes returned", len(env.eventName()))
		}
		if env.id < 0 {
			t.Fatalf("negative ack id %d returned", env.id)
		}
		if err != nil {
			checkClientError(t, err)
			if err.Code != CodeBadMessage {
				t.Fatalf("refusal with code %q, want %s", err.Code, CodeBadMessage)
			}
			return
		}
		if !utf8.Valid(b) || !json.Valid(b) {
			t.Fatalf("accepted input that is not valid UTF-8 JSON: %q", b)
		}
		if env.eventName() == "" || reservedName(env.eventName()) || !utf8.ValidString(env.eventName()) {
			t.Fatalf("accepted event name %q", env.eventName())
		}
		if env.data != nil && (!json.Valid(env.data) || string(env.data) == "null") {
			t.Fatalf("accepted data %q", env.data)
		}
		// What was accepted decodes the same once re-encoded the way a
		// well-behaved client would send it.
		re := map[string]any{"event": env.eventName()}
		if env.data != nil {
			re["data"] = env.data
		}
		if env.id > 0 {
			re["id"] = env.id
		}
		rb, merr := json.Marshal(re)
		if merr != nil {
			t.Fatalf("re-encode: %v", merr)
		}
		env2, err2 := decodeEnvelope(rb)
		if err2 != nil || env2.eventName() != env.eventName() || env2.id != env.id || !jsonEqual(env2.data, env.data) {
			t.Fatalf("round trip of %q: %+v, %v; first decode %+v", b, env2, err2, env)
		}
	})
}

// checkClientError checks an error object meant for a client: a code, a
// bounded, valid message, and nothing from inside the server.
func checkClientError(t *testing.T, e *Error) {
	t.Helper()
	if e.Code == "" || e.Message == "" {
		t.Fatalf("error without code or message: %+v", e)
	}
	if len(e.Message) > 1024 || !utf8.ValidString(e.Message) {
		t.Fatalf("error message of %d bytes (valid UTF-8: %v)", len(e.Message), utf8.ValidString(e.Message))
	}
	for _, leak := range internalMarkers {
		if strings.Contains(e.Message, leak) {
			t.Fatalf("error message %q carries %q", e.Message, leak)
		}
	}
}

// internalMarkers are strings that would show an error text from inside the
// server (a Go library, a stack trace) reaching a client.
var internalMarkers = []string{"json:", "goroutine ", ".go:", "runtime.", "panic", "redis", "dial tcp", "0x"}

func jsonEqual(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	dx := json.NewDecoder(bytes.NewReader(a))
	dx.UseNumber()
	dy := json.NewDecoder(bytes.NewReader(b))
	dy.UseNumber()
	if dx.Decode(&x) != nil || dy.Decode(&y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// FuzzSplitFrame checks splitFrame against the obvious reference: split on
// '\n', drop blank lines.
func FuzzSplitFrame(f *testing.F) {
	for _, s := range []string{
		"", "\n", "\n\n\n", " \t\r\n", "a", "a\n", "\na", "a\nb", "a\n\nb\n",
		"{\"event\":\"x\"}\n{\"event\":\"y\"}", "a\r\nb\r\n", "\x00\n\x00", "\xff\n\xfe",
		strings.Repeat("{}\n", 100),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var want [][]byte
		for _, line := range bytes.Split(frame, []byte{'\n'}) {
			if len(bytes.TrimSpace(line)) > 0 {
				want = append(want, line)
			}
		}
		var got [][]byte
		splitFrame(frame, func(line []byte) {
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line %q holds a newline", line)
			}
			got = append(got, line)
		})
		if len(got) != len(want) {
			t.Fatalf("%q: %d lines, want %d", frame, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%q: line %d is %q, want %q", frame, i, got[i], want[i])
			}
		}
	})
}

// FuzzRouteChecks defines a route from fuzzed names and rates and checks
// that Start never panics, that it accepts exactly the valid definitions,
// that its error is well formed (one line per problem, valid UTF-8), and that
// every namespace it accepts can be reached by a client. Handle, which
// panics on a bad definition by design, must panic exactly when the
// definition is bad, with a "realtime: " message.
func FuzzRouteChecks(f *testing.F) {
	f.Add("/chat", "send", "other", 5.0, 10, uint8(0))
	f.Add("/", "a", "b", 1.0, 0, uint8(0))
	f.Add("", "x", "y", 0.5, 0, uint8(1))
	f.Add("chat", "", "$connect", 0.0, -1, uint8(2))
	f.Add("/chat/", "__loly:x", "ok", math.NaN(), 3, uint8(3))
	f.Add("/a//b", strings.Repeat("n", 129), "ok", math.Inf(1), 1, uint8(4))
	f.Add("/a?b", "ok", "ok", -1.0, 0, uint8(7))
	// Regressions: accepted by Start before, yet unreachable by any client
	// (trailing slash) or breaking the one-line-per-problem error.
	f.Add("/chat/", "send", "other", 1.0, 0, uint8(0))
	f.Add("/a\n  - route /b: fake", "ok", "ok2", 1.0, 0, uint8(0))
	f.Add("/\xff", "\xff", "ok", 1.0, 0, uint8(0))
	f.Add("/a:b", "ok", "ok2", 1.0, 0, uint8(0))
	f.Add("/\u0085", "ok", "ok2", 1.0, 0, uint8(0))
	f.Fuzz(func(t *testing.T, ns, ev1, ev2 string, eps float64, burst int, flags uint8) {
		noop := func(*Ctx) error { return nil }
		e1 := Event{Handler: noop}
		if flags&1 != 0 {
			e1.Handler = nil
		}
		if flags&2 != 0 {
			e1.RateLimit = &Rate{EventsPerSecond: eps, Burst: burst}
		}
		events := map[string]Event{ev1: e1}
		if flags&4 == 0 {
			events[ev2] = Event{Handler: noop}
		}
		mux := New(Config{Logger: slog.New(slog.DiscardHandler)})
		mux.Route(Route{Namespace: ns, Events: events})

		valid := routeNamespaceOK(ns)
		for name, e := range events {
			valid = valid && eventOK(name, e)
		}
		err := mux.Start(context.Background())
		defer func() {
			if mux.srv.started.Load() {
				_ = mux.Shutdown(context.Background())
			}
		}()
		if (err == nil) != valid {
			t.Fatalf("Start(%q, %q, %q, %v, %d, %d) = %v; want valid=%v", ns, ev1, ev2, eps, burst, flags, err, valid)
		}
		if err != nil {
			checkRouteError(t, err.Error())
			return
		}
		name := ns
		if name == "" {
			name = "/"
		}
		if got := mux.srv.namespaceOf(mux.srv.cfg.Path + name); got != name {
			t.Fatalf("namespace %q was accepted but a client at %q reaches %q", name, mux.srv.cfg.Path+name, got)
		}

		// Handle panics on a bad event, and only then.
		m2 := New(Config{})
		msg := func() (msg any) {
			defer func() { msg = recover() }()
			m2.Handle(ev1, e1)
			return nil
		}()
		if (msg == nil) != eventOK(ev1, e1) {
			t.Fatalf("Handle(%q): panic %v, want panic=%v", ev1, msg, !eventOK(ev1, e1))
		}
		if s, ok := msg.(string); msg != nil && (!ok || !strings.HasPrefix(s, "realtime: ")) {
			t.Fatalf("Handle panicked with %#v", msg)
		}
	})
}

// routeNamespaceOK is the test's own statement of a valid route namespace.
func routeNamespaceOK(ns string) bool {
	if ns == "" || ns == "/" {
		return true
	}
	if !strings.HasPrefix(ns, "/") || strings.HasSuffix(ns, "/") || strings.Contains(ns, "//") {
		return false
	}
	for _, r := range ns {
		if r == '?' || r == '#' || r == ':' || unicode.IsControl(r) {
			return false
		}
	}
	return utf8.ValidString(ns)
}

// eventOK is the test's own statement of a valid event definition.
func eventOK(name string, e Event) bool {
	if name == "" || len(name) > MaxEventNameBytes || strings.HasPrefix(name, "$") || strings.HasPrefix(name, ReservedPrefix) {
		return false
	}
	if e.Handler == nil {
		return false
	}
	if r := e.RateLimit; r != nil && (!(r.EventsPerSecond > 0) || r.Burst < 0) {
		return false
	}
	return true
}

func checkRouteError(t *testing.T, msg string) {
	t.Helper()
	const head = "realtime: invalid routes:\n  - "
	if !strings.HasPrefix(msg, head) {
		t.Fatalf("route error does not start with %q: %q", head, msg)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("route error is not valid UTF-8: %q", msg)
	}
	for i, line := range strings.Split(strings.TrimPrefix(msg, head), "\n  - ") {
		if !strings.HasPrefix(line, "route ") || strings.Contains(line, "\n") {
			t.Fatalf("problem %d is not one line about a route: %q\nin %q", i, line, msg)
		}
	}
}
