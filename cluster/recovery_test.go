package cluster_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// saidTexts waits for n "said" events and returns their texts.
func saidTexts(t *testing.T, cl *realtimetest.Client, n int) []string {
	t.Helper()
	var out []string
	for range n {
		m, err := cl.Wait(testkit.Context(t), "said")
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		var s struct{ Text string }
		_ = json.Unmarshal(m.Data, &s)
		out = append(out, s.Text)
	}
	return out
}

// A client that loses its instance reconnects to the other one with its
// session and last offset: its rooms come back there, and what it missed
// arrives once, in order, before the live messages.
func TestRecoveryOnAnotherInstance(t *testing.T) {
	a, b := twoInstances(t, clusterOpts{history: realtime.History{Size: 100}})
	alice := a.dial(t, "alice")
	bob := b.dial(t, "bob")
	testkit.Request(t, alice, "join", map[string]string{"room": "r"})
	testkit.Request(t, bob, "join", map[string]string{"room": "r"})
	testkit.Request(t, bob, "say", map[string]string{"room": "r", "text": "1"})
	if got := saidTexts(t, alice, 1); got[0] != "1" {
		t.Fatalf("live: %v", got)
	}
	session, offset := alice.Session, alice.LastOffset()
	alice.Close()
	for i := 2; i <= 4; i++ {
		testkit.Request(t, bob, "say", map[string]string{"room": "r", "text": strconv.Itoa(i)})
	}
	back := realtimetest.MustDial(t, b.srv.URL("/chat")+"?user=alice", &realtimetest.Options{Session: session, Offset: offset})
	if !back.Recovered {
		t.Fatalf("not recovered on the other instance: %q", back.RecoveryFailure)
	}
	testkit.Request(t, bob, "say", map[string]string{"room": "r", "text": "5"})
	if got := saidTexts(t, back, 4); fmt.Sprint(got) != "[2 3 4 5]" {
		t.Fatalf("after recovery on the other instance: %v", got)
	}
	assertNone(t, "said", back)
}

// An instance whose link to Redis is cut while messages flow to a room with
// history catches the room up from the history once it reconnects: its
// member gets every message, once, in order, although pub/sub dropped some.
func TestHistoryRoomsCatchUpAfterPubSubCut(t *testing.T) {
	rs := redistest.StartServer(t)
	a, b := twoInstances(t, clusterOpts{url: rs.URL(), history: realtime.History{Size: 10000}})
	member := b.dial(t, "member")
	testkit.Request(t, member, "join", map[string]string{"room": "r"})
	room := a.srv.Mux.In("/chat").ToRoom("r")

	const total = 3000
	var (
		mu   sync.Mutex
		got  []string
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for len(got) < total {
			m, err := member.Wait(testkit.Context(t), "said")
			if err != nil {
				return
			}
			var s struct{ Text string }
			_ = json.Unmarshal(m.Data, &s)
			mu.Lock()
			got = append(got, s.Text)
			mu.Unlock()
		}
	}()
	killer := goredis.NewClient(&goredis.Options{Addr: rs.Addr()})
	defer killer.Close()
	// Emits as fast as the history takes them, with the instances'
	// pub/sub connections cut five times meanwhile: pub/sub loses what is
	// published while a subscriber reconnects.
	for i := range total {
		if err := room.Emit("said", map[string]string{"text": strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		if i%(total/6) == total/12 {
			if err := killer.ClientKillByFilter(testkit.Context(t), "TYPE", "pubsub").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	want := make([]string, total)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the member got %d of %d messages (lost, repeated or out of order): %v", len(got), total, got)
	}
}
