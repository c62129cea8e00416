package realtime

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

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
		// A stage for the rate limits, which Start requires (middleware
		// imports this package, so its RateLimit cannot be used here).
		mux.Use(Enforces(func(next Handler) Handler { return next }, SettingRateLimit))
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
