package cluster_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
)

// logRecorder is a slog.Handler that keeps every record, for tests that
// check what the mux said.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// has reports whether a line contains every one of the parts.
func (l *logRecorder) has(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return true
	}
	return false
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// A room joined while Redis is down hears the other instance once Redis is
// back, without waiting for a presence period: Join succeeds during the
// outage, the cluster subscription it could not make is retried in the
// background, and the first emit from the other instance after Redis
// returns that the sender's instance manages to publish reaches it. The
// presence ttl is an hour, so nothing on the presence period can help.
func TestJoinDuringOutageHearsOtherInstancesOnceRedisIsBack(t *testing.T) {
	rs := redistest.StartServer(t)
	logs := &logRecorder{}
	a, b := twoInstances(t, clusterOpts{url: rs.URL(), presenceTTL: time.Hour, logger: slog.New(logs)})
	sender := a.dial(t, "s")
	early, late := b.dial(t, "early"), b.dial(t, "late")
	testkit.Request(t, early, "join", map[string]string{"room": "before"})
	testkit.Request(t, sender, "say", map[string]string{"room": "before", "text": "up"})
	if _, err := early.Wait(testkit.Context(t), "said"); err != nil {
		t.Fatal(err)
	}

	rs.Stop()
	// Join says yes while Redis is down; its subscription fails.
	testkit.Request(t, late, "join", map[string]string{"room": "during"})
	if !logs.has("subscribe failed", "room:/chat:during") {
		t.Fatalf("the join during the outage did not fail to subscribe; the test needs it to:\n%s", logs)
	}

	rs.Start()
	back := time.Now()
	// Emit to both rooms until the room joined during the outage hears one.
	// The sender's first emits may fail (its instance retries publishing
	// once a second); "before", subscribed all along, shows when a message
	// first crossed.
	var heard, firstBefore time.Duration
	deadline := back.Add(30 * time.Second)
	for heard == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the room joined during the outage heard nothing from the other instance within 30s of Redis coming back (the room joined before: after %v)", firstBefore)
		}
		_, _ = sender.Request(testkit.Context(t), "say", map[string]string{"room": "during", "text": "back"})
		_, _ = sender.Request(testkit.Context(t), "say", map[string]string{"room": "before", "text": "back"})
		time.Sleep(20 * time.Millisecond)
		if firstBefore == 0 && early.Count("said") > 0 {
			firstBefore = time.Since(back)
		}
		if late.Count("said") > 0 {
			heard = time.Since(back)
		}
	}
	// The retry confirmed the subscription with the broker, too.
	for !logs.has("subscriptions restored") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed subscription was never confirmed:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after Redis came back, the room joined during the outage heard the other instance after %v (the room joined before: %v)",
		heard.Round(time.Millisecond), firstBefore.Round(time.Millisecond))
}
