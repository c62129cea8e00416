package realtime_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// historyRoute is a namespace whose rooms keep history: clients join rooms
// and say things to them.
func historyRoute(h realtime.History, onConnect realtime.Handler) realtime.Route {
	type roomText struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}
	return realtime.Route{
		Namespace: "/chat",
		History:   h,
		OnConnect: onConnect,
		Events: map[string]realtime.Event{
			"join": {Handler: func(c *realtime.Ctx) error {
				var m roomText
				if err := c.Bind(&m); err != nil {
					return err
				}
				return c.Join(m.Room)
			}},
			"say": {Handler: func(c *realtime.Ctx) error {
				var m roomText
				if err := c.Bind(&m); err != nil {
					return err
				}
				return c.ToRoom(m.Room).Except(c.SocketID()).Emit("said", m.Text)
			}},
			"rooms": {Handler: func(c *realtime.Ctx) error { return c.Ack(c.Socket().Rooms()) }},
			"history": {Handler: func(c *realtime.Ctx) error {
				var m struct{ Room, Since string }
				if err := c.Bind(&m); err != nil {
					return err
				}
				msgs, err := c.History(m.Room, m.Since)
				if err != nil {
					return err
				}
				return c.Ack(msgs)
			}},
		},
	}
}

func historyServer(t *testing.T, h realtime.History, onConnect realtime.Handler) *realtimetest.Server {
	t.Helper()
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(bindUser)
	mux.Route(historyRoute(h, onConnect))
	return realtimetest.NewServer(t, mux)
}

// said collects the texts of the "said" events a client has received, in
// order, with their offsets, waiting until n have come.
func said(t *testing.T, cl *realtimetest.Client, n int) (texts, offsets []string) {
	t.Helper()
	for range n {
		m, err := cl.Wait(testkit.Context(t), "said")
		if err != nil {
			t.Fatalf("after %v: %v", texts, err)
		}
		var s string
		_ = json.Unmarshal(m.Data, &s)
		texts, offsets = append(texts, s), append(offsets, m.Offset)
	}
	return texts, offsets
}

func say(t *testing.T, cl *realtimetest.Client, room, text string) {
	t.Helper()
	testkit.Request(t, cl, "say", map[string]string{"room": room, "text": text})
}

// A native client that reconnects with its session and the offset of the
// last message it got is recovered: its rooms come back, and what was said
// in them meanwhile arrives in order, before anything live, each message
// once.
func TestNativeRecovery(t *testing.T) {
	var recovered []bool
	srv := historyServer(t, realtime.History{Size: 50}, func(c *realtime.Ctx) error {
		recovered = append(recovered, c.Recovered())
		return nil
	})
	alice := dialAs(t, srv, "/chat", "alice")
	bob := dialAs(t, srv, "/chat", "bob")
	if alice.Session == "" || alice.LastOffset() == "" {
		t.Fatalf("connected without a session or offset: %q %q", alice.Session, alice.LastOffset())
	}
	for _, cl := range []*realtimetest.Client{alice, bob} {
		testkit.Request(t, cl, "join", map[string]string{"room": "r1"})
		testkit.Request(t, cl, "join", map[string]string{"room": "r2"})
	}
	say(t, bob, "r1", "1")
	say(t, bob, "r2", "2")
	if got, offsets := said(t, alice, 2); fmt.Sprint(got) != "[1 2]" || offsets[0] == "" || offsets[0] == offsets[1] {
		t.Fatalf("live: %v %v", got, offsets)
	}
	session, offset := alice.Session, alice.LastOffset()
	alice.Close()
	say(t, bob, "r1", "3")
	say(t, bob, "r2", "4")
	say(t, bob, "r1", "5")

	back := realtimetest.MustDial(t, srv.URL("/chat"), &realtimetest.Options{
		Header: headerUser("alice"), Session: session, Offset: offset})
	if !back.Recovered || back.Session != session || back.RecoveryFailure != "" {
		t.Fatalf("recovered %v, session %q (was %q), failure %q", back.Recovered, back.Session, session, back.RecoveryFailure)
	}
	if got := string(testkit.Request(t, back, "rooms", nil)); got != `["r1","r2"]` {
		t.Fatalf("rooms after recovery: %s", got)
	}
	say(t, bob, "r2", "6")
	got, offsets := said(t, back, 4)
	if fmt.Sprint(got) != "[3 4 5 6]" {
		t.Fatalf("after recovery: %v, want the three missed then the live one", got)
	}
	if !slices.IsSortedFunc(offsets, func(a, b string) int { return seqOf(t, a) - seqOf(t, b) }) {
		t.Fatalf("offsets out of order: %v", offsets)
	}
	syncEcho0(t, back)
	if n := back.Count("said"); n != 0 {
		t.Fatalf("%d more said events: duplicates", n)
	}
	if fmt.Sprint(recovered) != "[false false true]" {
		t.Fatalf("Ctx.Recovered in OnConnect: %v", recovered)
	}
}

func seqOf(t *testing.T, offset string) int {
	t.Helper()
	var seq int
	if _, err := fmt.Sscanf(offset[strings.LastIndexByte(offset, '-')+1:], "%d", &seq); err != nil {
		t.Fatalf("offset %q: %v", offset, err)
	}
	return seq
}

// syncEcho0 round-trips a request, so that what was queued before it has
// arrived.
func syncEcho0(t *testing.T, cl *realtimetest.Client) {
	t.Helper()
	testkit.Request(t, cl, "rooms", nil)
}

func headerUser(id string) map[string][]string { return map[string][]string{"X-User": {id}} }

// A recovery the server cannot grant gets recovered: false with a reason,
// a fresh session, no rooms and no message: a forged, foreign or expired
// session, a malformed offset or one from the future or another epoch, and
// a gap older than the history.
func TestNativeRecoveryRefusals(t *testing.T) {
	srv := historyServer(t, realtime.History{Size: 3}, nil)
	alice := dialAs(t, srv, "/chat", "alice")
	bob := dialAs(t, srv, "/chat", "bob")
	testkit.Request(t, alice, "join", map[string]string{"room": "r"})
	testkit.Request(t, bob, "join", map[string]string{"room": "r"})
	say(t, bob, "r", "seen")
	said(t, alice, 1)
	session, offset := alice.Session, alice.LastOffset()
	epoch := offset[:strings.LastIndexByte(offset, '-')]
	alice.Close()
	for _, tc := range []struct {
		name, user, session, offset, reason string
	}{
		{"forged session", "alice", "not-a-session", offset, "unknown or expired session"},
		{"another user's session", "mallory", session, offset, "unknown or expired session"},
		{"malformed offset", "alice", session, "nonsense", "malformed offset"},
		{"huge offset", "alice", session, strings.Repeat("9", 10000), "malformed offset"},
		{"offset from the future", "alice", session, epoch + "-99999", "offset from the future"},
		{"offset of another epoch", "alice", session, "zzz-1", "the history was lost (new epoch)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := realtimetest.MustDial(t, srv.URL("/chat"), &realtimetest.Options{
				Header: headerUser(tc.user), Session: tc.session, Offset: tc.offset})
			if cl.Recovered || cl.RecoveryFailure != tc.reason || cl.Session == session || cl.Session == "" {
				t.Fatalf("recovered %v, failure %q (want %q), session %q", cl.Recovered, cl.RecoveryFailure, tc.reason, cl.Session)
			}
			if got := string(testkit.Request(t, cl, "rooms", nil)); got != `[]` {
				t.Fatalf("rooms %s: a refused recovery restored rooms", got)
			}
			say(t, bob, "r", "after "+tc.name)
			syncEcho0(t, cl)
			if n := cl.Count("said"); n != 0 {
				t.Fatalf("%d messages reached a refused recovery", n)
			}
		})
	}
	// Four more messages than the history keeps: the gap is too old.
	for i := range 4 {
		say(t, bob, "r", fmt.Sprint("missed ", i))
	}
	cl := realtimetest.MustDial(t, srv.URL("/chat"), &realtimetest.Options{
		Header: headerUser("alice"), Session: session, Offset: offset})
	if cl.Recovered || cl.RecoveryFailure != "missed messages are no longer in the history" {
		t.Fatalf("recovered %v, failure %q", cl.Recovered, cl.RecoveryFailure)
	}
	syncEcho0(t, cl)
	if n := cl.Count("said"); n != 0 {
		t.Fatalf("%d messages replayed although some were lost", n)
	}
}

// OnConnect sees a recovery and may leave a restored room the user may no
// longer be in: what was missed there is then not replayed.
func TestRecoveryOnConnectMayLeaveRooms(t *testing.T) {
	srv := historyServer(t, realtime.History{Size: 50}, func(c *realtime.Ctx) error {
		if c.Recovered() && c.UserID() == "alice" {
			return c.Leave("secret")
		}
		return nil
	})
	alice := dialAs(t, srv, "/chat", "alice")
	bob := dialAs(t, srv, "/chat", "bob")
	for _, room := range []string{"open", "secret"} {
		testkit.Request(t, alice, "join", map[string]string{"room": room})
		testkit.Request(t, bob, "join", map[string]string{"room": room})
	}
	session, offset := alice.Session, alice.LastOffset()
	alice.Close()
	say(t, bob, "secret", "hidden")
	say(t, bob, "open", "shown")
	back := realtimetest.MustDial(t, srv.URL("/chat"), &realtimetest.Options{
		Header: headerUser("alice"), Session: session, Offset: offset})
	if !back.Recovered {
		t.Fatalf("not recovered: %q", back.RecoveryFailure)
	}
	if got, _ := said(t, back, 1); fmt.Sprint(got) != "[shown]" {
		t.Fatalf("replayed %v", got)
	}
	syncEcho0(t, back)
	if n := back.Count("said"); n != 0 {
		t.Fatalf("%d more replayed: the left room's messages came through", n)
	}
}

// Ctx.History pages through a room's history from an offset.
func TestCtxHistory(t *testing.T) {
	srv := historyServer(t, realtime.History{Size: 3}, nil)
	bob := dialAs(t, srv, "/chat", "bob")
	testkit.Request(t, bob, "join", map[string]string{"room": "r"})
	for i := range 5 {
		say(t, bob, "r", fmt.Sprint(i))
	}
	var all []realtime.HistoryMessage
	if err := json.Unmarshal(testkit.Request(t, bob, "history", map[string]string{"Room": "r"}), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || string(all[0].Data) != `"2"` || all[0].Event != "said" {
		t.Fatalf("history: %+v", all)
	}
	var rest []realtime.HistoryMessage
	if err := json.Unmarshal(testkit.Request(t, bob, "history", map[string]string{"Room": "r", "Since": all[0].Offset}), &rest); err != nil {
		t.Fatal(err)
	}
	if len(rest) != 2 || string(rest[1].Data) != `"4"` {
		t.Fatalf("history since the first: %+v", rest)
	}
	if _, err := bob.Request(testkit.Context(t), "history", map[string]string{"Room": "no history here", "Since": "x"}); err == nil {
		t.Fatal("history of a room... accepted a malformed offset")
	}
}
