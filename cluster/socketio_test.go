package cluster_test

import (
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/internal/testkit"
)

// The seed acceptance tests 1 to 3 once more, with the real socket.io-client
// as the client, on two instances joined by Redis.

func TestSocketIOAcceptance1RoomBroadcastAcrossInstances(t *testing.T) {
	siotest.NeedNode(t)
	a, b := twoInstances(t, clusterOpts{})
	listen := func(url, user, room string, expect int) *siotest.Client {
		c := siotest.Start(t, "listen", map[string]any{"url": url, "query": map[string]string{"user": user},
			"room": room, "event": "said", "expect": expect, "waitMs": 1500})
		if l := c.Next(t); l["step"] != "ready" {
			t.Fatalf("listener: %s", siotest.JSON(l))
		}
		return c
	}
	memberA := listen(a.srv.Server.URL, "ma", "r1", 2)
	memberB := listen(b.srv.Server.URL, "mb", "r1", 2)
	outsider := listen(b.srv.Server.URL, "ob", "r2", 0)
	for _, sender := range []string{a.srv.Server.URL, b.srv.Server.URL} {
		siotest.Run(t, "send", map[string]any{"url": sender, "query": map[string]string{"user": "s"},
			"events": [][]any{{"say", map[string]string{"room": "r1", "text": "hi from " + sender}}}})
	}
	for name, c := range map[string]*siotest.Client{"member on a": memberA, "member on b": memberB} {
		if got := siotest.JSON(c.Next(t)["value"]); len(got) < 10 {
			t.Fatalf("%s got %s", name, got)
		}
	}
	if got := siotest.JSON(outsider.Next(t)["value"]); got != "[]" {
		t.Fatalf("the outsider got %s", got)
	}
}

func TestSocketIOAcceptance2SharedCounter(t *testing.T) {
	siotest.NeedNode(t)
	a, b := twoInstances(t, clusterOpts{})
	const sockets, each = 20, 50
	c := siotest.Start(t, "counter", map[string]any{"urls": []string{a.srv.Server.URL, b.srv.Server.URL},
		"sockets": sockets, "each": each})
	l := c.Next(t)
	for i, s := range l["value"].([]any) {
		seen := s.(map[string]any)
		if seen["n"].(float64) != sockets*each || seen["max"].(float64) != sockets*each {
			t.Fatalf("socket %d saw %s, want %d updates up to %d", i, siotest.JSON(seen), sockets*each, sockets*each)
		}
	}
	v, err := a.backends.Store.Get(testkit.Context(t), "counter:value")
	if err != nil || string(v) != "1000" {
		t.Fatalf("stored counter = %s, %v", v, err)
	}
}

func TestSocketIOAcceptance3Presence(t *testing.T) {
	siotest.NeedNode(t)
	a, b := twoInstances(t, clusterOpts{presenceTTL: 900 * time.Millisecond})
	lines := siotest.Run(t, "presence", map[string]any{"urls": []string{a.srv.Server.URL, b.srv.Server.URL}})
	both := siotest.Step(t, lines, "both")
	for _, k := range []string{"a", "b", "roomA", "roomB"} {
		if got := siotest.JSON(both[k]); got != `["u1","u2"]` {
			t.Fatalf("presence %s = %s", k, got)
		}
	}
	if got := siotest.JSON(siotest.Step(t, lines, "after")["a"]); got != `["u1"]` {
		t.Fatalf("after u2 left: %s", got)
	}
}
