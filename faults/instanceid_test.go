package faults_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// An instance killed with SIGKILL and restarted at once with the same
// instance id starts from a clean slate: its predecessor's users leave the
// cluster's presence, and only the new process's users are listed under the
// id. The new process waits, in Start, for the dead one's registration to
// expire (at most the presence TTL), and says so.
func TestRestartWithSameInstanceIDAfterSIGKILL(t *testing.T) {
	const ttl = 3 * time.Second
	c := newCluster(t, procOpts{presenceTTL: ttl})
	stay := dial(t, c.b.url("stay"))
	ghost := dial(t, c.a.url("ghost"))
	for _, cl := range []*realtimetest.Client{stay, ghost} {
		testkit.RequestWithin(t, 20*time.Second, cl, "join", map[string]string{"room": "r"})
	}
	waitOnline(t, stay, "r", `["ghost","stay"]`, 5*time.Second)

	if err := c.a.signal(syscall.SIGKILL, 10*time.Second); err == nil {
		t.Fatal("a exited cleanly after SIGKILL?")
	}
	killed := time.Now()
	again := start(t, "a", c.opts) // the same id, before the dead one's key expired
	startedAfter := time.Since(killed)
	fresh := dial(t, again.url("fresh"))
	testkit.RequestWithin(t, 20*time.Second, fresh, "join", map[string]string{"room": "r"})
	// The dead process's user is gone for good, the new one's is listed.
	took := waitOnline(t, stay, "r", `["fresh","stay"]`, ttl+10*time.Second)
	time.Sleep(ttl) // past another expiry: nothing comes back
	if got := online(t, stay, "r"); got != `["fresh","stay"]` {
		t.Fatalf("after another ttl, b lists %s", got)
	}
	if got := online(t, fresh, ""); got != `["fresh","stay"]` {
		t.Fatalf("the restarted process lists %s in the namespace", got)
	}
	if !strings.Contains(again.out.String(), "waiting for its registration to expire") {
		t.Fatalf("the restarted process did not say it waited for the crashed one:\n%s", again.out.String())
	}
	t.Logf("restarted with the same id: Start returned %v after the kill (TTL %v); presence right %v after the kill",
		startedAfter.Round(time.Millisecond), ttl, (startedAfter + took).Round(time.Millisecond))
}

// A second live process with the id of a running one is refused at start,
// with an error naming the id and the fix, and the running one is left
// alone.
func TestLiveDuplicateInstanceIDIsRefused(t *testing.T) {
	c := newCluster(t, procOpts{presenceTTL: time.Second})
	first := dial(t, c.a.url("first"))
	testkit.RequestWithin(t, 20*time.Second, first, "join", map[string]string{"room": "r"})

	args := []string{"-redis", c.opts.redisURL, "-prefix", c.opts.prefix, "-id", "a",
		"-presence-ttl", c.opts.presenceTTL.String()}
	cmd := exec.Command(server(t), args...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("a second process with id a still runs after 30s:\n%s", out)
	}
	if err == nil || strings.Contains(string(out), "READY") {
		t.Fatalf("a second process with id a started (%v):\n%s", err, out)
	}
	for _, want := range []string{`in use by another live process: \"a\"`, "unique Config.InstanceID"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("the refusal does not say %s:\n%s", want, out)
		}
	}
	// The first one still serves, with its presence intact.
	if got := online(t, first, "r"); got != `["first"]` {
		t.Fatalf("after the refused duplicate, a lists %s", got)
	}
	time.Sleep(2 * time.Second) // past the TTL
	if got := online(t, first, "r"); got != `["first"]` {
		t.Fatalf("a TTL after the refused duplicate, a lists %s", got)
	}
	if !c.a.alive() {
		t.Fatal("a died")
	}
}
