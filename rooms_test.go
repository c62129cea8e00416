package realtime_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"bytes"
	"fmt"

	"bufio"
	"net/http"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

type roomMsg struct {
	Room string `json:"room"`
	To   string `json:"to"`
	Text string `json:"text"`
}

// roomsMux serves the room and emit actions as events; every emit is
// followed, on the client side, by a "mark" to everybody, so that a socket
// that got the mark and not the message was not a target (one sender's
// emits reach one socket in order).
func roomsMux(cfg realtime.Config) *realtime.Mux {
	mux := realtime.New(quiet(cfg))
	mux.Use(bindUser)
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.On("join", realtime.Typed(func(c *realtime.Ctx, room string) error { return c.Join(room) }))
	mux.On("leave", realtime.Typed(func(c *realtime.Ctx, room string) error { return c.Leave(room) }))
	mux.On("rooms", func(c *realtime.Ctx) error { return c.Ack(c.Socket().Rooms()) })
	mux.On("toRoom", realtime.Typed(func(c *realtime.Ctx, m roomMsg) error {
		return c.ToRoom(m.Room).Emit("msg", m.Text)
	}))
	mux.On("toRoomExceptMe", realtime.Typed(func(c *realtime.Ctx, m roomMsg) error {
		return c.ToRoom(m.Room).Except(c.SocketID()).Emit("msg", m.Text)
	}))
	mux.On("toUser", realtime.Typed(func(c *realtime.Ctx, m roomMsg) error {
		return c.ToUser(m.To).Emit("msg", m.Text)
	}))
	mux.On("broadcast", realtime.Typed(func(c *realtime.Ctx, text string) error { return c.Broadcast("msg", text) }))
	mux.On("emit", realtime.Typed(func(c *realtime.Ctx, text string) error { return c.Emit("msg", text) }))
	mux.On("mark", func(c *realtime.Ctx) error { return c.Emit("mark", nil) })
	mux.On("users", realtime.Typed(func(c *realtime.Ctx, room string) error {
		t := c.In()
		if room != "" {
			t = c.ToRoom(room)
		}
		users, err := t.Users(c.Context())
		if err != nil {
			return err
		}
		return c.Ack(users)
	}))
	mux.On("setUser", func(c *realtime.Ctx) error {
		err := c.SetUser(&realtime.User{ID: "spoofed"})
		if err == nil {
			return c.Ack("allowed")
		}
		return c.Ack(err.Error())
	})
	mux.On("whoami", func(c *realtime.Ctx) error { return c.Ack(c.UserID()) })
	return mux
}

// delivery sends one emitting request from `from`, then a mark to everybody,
// and returns for each client the texts of the msg events it got before the
// mark.
func delivery(t *testing.T, from *realtimetest.Client, event string, data any, all ...*realtimetest.Client) []string {
	t.Helper()
	testkit.Request(t, from, event, data)
	testkit.Request(t, from, "mark", nil)
	out := make([]string, len(all))
	for i, cl := range all {
		if _, err := cl.Wait(testkit.Context(t), "mark"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		var texts []string
		for _, m := range cl.Events() {
			if m.Event != "msg" {
				t.Fatalf("client %d: unexpected %s", i, m.Raw)
			}
			var s string
			_ = m.Decode(&s)
			texts = append(texts, s)
		}
		out[i] = strings.Join(texts, ",")
	}
	return out
}

func TestRoomsAndTargets(t *testing.T) {
	srv := realtimetest.NewServer(t, roomsMux(realtime.Config{}))
	a1 := dialAs(t, srv, "/", "u1")
	a2 := dialAs(t, srv, "/", "u1")
	b := dialAs(t, srv, "/", "u2")
	anon := dial(t, srv, "/")
	all := []*realtimetest.Client{a1, a2, b, anon}

	testkit.Request(t, a1, "join", "r")
	testkit.Request(t, b, "join", "r")
	testkit.Request(t, b, "join", "r") // joining twice is harmless
	if got := string(testkit.Request(t, b, "rooms", nil)); got != `["r"]` {
		t.Fatalf("rooms of b: %s", got)
	}

	tests := []struct {
		name  string
		from  *realtimetest.Client
		event string
		data  any
		want  []string // per client: a1, a2, b, anon
	}{
		{"room reaches members only", a2, "toRoom", roomMsg{Room: "r", Text: "t1"}, []string{"t1", "", "t1", ""}},
		{"room emit from a member includes it", a1, "toRoom", roomMsg{Room: "r", Text: "t2"}, []string{"t2", "", "t2", ""}},
		{"Except leaves the sender out", a1, "toRoomExceptMe", roomMsg{Room: "r", Text: "t3"}, []string{"", "", "t3", ""}},
		{"empty room reaches nobody", b, "toRoom", roomMsg{Room: "other", Text: "t4"}, []string{"", "", "", ""}},
		{"Broadcast excludes the sender", b, "broadcast", "t5", []string{"t5", "t5", "", "t5"}},
		{"Emit includes the sender", anon, "emit", "t6", []string{"t6", "t6", "t6", "t6"}},
		{"ToUser reaches every socket of the user", b, "toUser", roomMsg{To: "u1", Text: "t7"}, []string{"t7", "t7", "", ""}},
		{"ToUser of the sender's own user", a1, "toUser", roomMsg{To: "u1", Text: "t8"}, []string{"t8", "t8", "", ""}},
		{"ToUser of nobody", a1, "toUser", roomMsg{To: "ghost", Text: "t9"}, []string{"", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := delivery(t, tt.from, tt.event, tt.data, all...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("received %q, want %q (a1, a2, b, anon)", got, tt.want)
			}
		})
	}

	t.Run("Users", func(t *testing.T) {
		if got := string(testkit.Request(t, anon, "users", "")); got != `["u1","u2"]` {
			t.Fatalf("namespace users %s", got)
		}
		if got := string(testkit.Request(t, anon, "users", "r")); got != `["u1","u2"]` {
			t.Fatalf("room users %s", got)
		}
		testkit.Request(t, b, "leave", "r")
		if got := string(testkit.Request(t, anon, "users", "r")); got != `["u1"]` {
			t.Fatalf("room users after b left %s", got)
		}
	})
	t.Run("Leave stops delivery", func(t *testing.T) {
		got := delivery(t, a2, "toRoom", roomMsg{Room: "r", Text: "t10"}, all...)
		if want := []string{"t10", "", "", ""}; !reflect.DeepEqual(got, want) {
			t.Fatalf("received %q, want %q", got, want)
		}
	})
	t.Run("a closed socket leaves its rooms and user", func(t *testing.T) {
		a1.Close()
		testkit.Eventually(t, "u1's first socket to leave", func() bool {
			return string(testkit.Request(t, anon, "users", "r")) == `[]`
		})
		got := delivery(t, b, "toUser", roomMsg{To: "u1", Text: "t11"}, a2, b, anon)
		if want := []string{"t11", "", ""}; !reflect.DeepEqual(got, want) {
			t.Fatalf("received %q, want %q", got, want)
		}
	})
}

func TestMaxRoomsPerSocket(t *testing.T) {
	srv := realtimetest.NewServer(t, roomsMux(realtime.Config{Limits: realtime.Limits{MaxRoomsPerSocket: 2}}))
	cl := dial(t, srv, "/")
	testkit.Request(t, cl, "join", "r1")
	testkit.Request(t, cl, "join", "r2")
	testkit.Request(t, cl, "join", "r1") // already in: not a third room
	_, err := cl.Request(testkit.Context(t), "join", "r3")
	var e *realtime.Error
	if !errorsAs(err, &e) || e.Code != realtime.CodeForbidden {
		t.Fatalf("third room: %v, want FORBIDDEN", err)
	}
	if got := string(testkit.Request(t, cl, "rooms", nil)); got != `["r1","r2"]` {
		t.Fatalf("rooms: %s", got)
	}
	testkit.Request(t, cl, "leave", "r1")
	testkit.Request(t, cl, "join", "r3")
	if got := string(testkit.Request(t, cl, "rooms", nil)); got != `["r2","r3"]` {
		t.Fatalf("rooms after leave and join: %s", got)
	}
}

// A socket that joins rooms without end is stopped at
// Limits.MaxRoomsPerSocket (here the default, 100), and keeps being served.
func TestRoomJoinFlood(t *testing.T) {
	srv := realtimetest.NewServer(t, roomsMux(realtime.Config{}))
	cl := dial(t, srv, "/")
	// Frames of 100 joins, each answered before the next is sent: a single
	// frame of 1,000 would make 1,900 replies, more than the send queue
	// holds, and whether the client reads them fast enough would decide if
	// it is evicted as a slow consumer (that case is TestErrorRepliesTo...).
	const joins, perFrame = 1000, 100
	ok, refused := 0, 0
	for start := 0; start < joins; start += perFrame {
		var frame bytes.Buffer
		ids := make([]int64, perFrame)
		for i := range ids {
			ids[i] = cl.NextAckID()
			fmt.Fprintf(&frame, `{"event":"join","data":"room-%d","id":%d}`+"\n", start+i, ids[i])
		}
		if err := cl.SendRaw(frame.Bytes()); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			m, err := cl.WaitAck(testkit.Context(t), id)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case m.Error == nil:
				ok++
			case m.Error.Code == realtime.CodeForbidden:
				refused++
			default:
				t.Fatalf("join: %s", m.Raw)
			}
		}
	}
	max := realtime.DefaultMaxRoomsPerSocket
	if ok != max || refused != joins-max {
		t.Fatalf("%d joins accepted, %d refused; want %d and %d", ok, refused, max, joins-max)
	}
	var rooms []string
	if err := json.Unmarshal(testkit.Request(t, cl, "rooms", nil), &rooms); err != nil || len(rooms) != max {
		t.Fatalf("in %d rooms (%v), want %d", len(rooms), err, max)
	}
	// Leaving one frees a place.
	testkit.Request(t, cl, "leave", "room-0")
	testkit.Request(t, cl, "join", "room-999")
	if _, err := cl.Request(testkit.Context(t), "join", "room-998"); err == nil {
		t.Fatal("a 101st room was joined")
	}
}

// guardedRooms is an application whose "join" event guards the room "vip":
// only the user "admin" may join it. Every way a client might get in is
// tried; none works.
func guardedRooms() *realtime.Mux {
	type joinReq struct {
		Room string `json:"room"`
	}
	roomOf := func(c *realtime.Ctx) string {
		var j joinReq
		_ = c.Bind(&j)
		return j.Room
	}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.RequestID, middleware.Auth(bindHeaderUser), middleware.Validate, middleware.Guard)
	mux.Handle("join", realtime.Event{
		Schema: realtime.JSON[joinReq](),
		Guard:  func(c *realtime.Ctx) (bool, error) { return roomOf(c) != "vip" || c.UserID() == "admin", nil },
		Handler: realtime.Typed(func(c *realtime.Ctx, j joinReq) error {
			return c.Join(j.Room)
		}),
	})
	mux.On("say", realtime.Typed(func(c *realtime.Ctx, j struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}) error {
		if !c.Socket().InRoom(j.Room) {
			return c.Error(realtime.CodeForbidden, "not in that room", nil)
		}
		return c.ToRoom(j.Room).Emit("said", j.Text)
	}))
	mux.On("rooms", func(c *realtime.Ctx) error { return c.Ack(c.Socket().Rooms()) })
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.Route(realtime.Route{Namespace: "/admin",
		Guard:  func(c *realtime.Ctx) (bool, error) { return c.UserID() == "admin", nil },
		Events: map[string]realtime.Event{"join": {Handler: func(c *realtime.Ctx) error { return c.Join("vip") }}},
	})
	return mux
}

// A room a guard denies cannot be joined by any path: not by the guarded
// event with the room spelled differently (escapes, duplicate keys, key
// case), not by another event name, a reserved one or a batch, and not by
// a namespace whose route guard refuses the socket, even when the client
// sends its events before the refusal is known.
func TestGuardDeniedRoomCannotBeJoined(t *testing.T) {
	mux := guardedRooms()
	srv := realtimetest.NewServer(t, mux)
	admin := dialAs(t, srv, "/", "admin")
	testkit.Request(t, admin, "join", map[string]string{"room": "vip"})

	intruder := dialAs(t, srv, "/", "mallory")
	attempts := []string{
		`{"event":"join","data":{"room":"vip"}}`,
		`{"event":"join","data":{"room":"v\u0069p"}}`,
		`{"event":"join","data":{"room":"lobby","room":"vip"}}`,
		`{"event":"join","data":{"ROOM":"vip"}}`,
		`{"event":"join","data":{"Room":"lobby","room":"vip"}}`,
		`{"event":"Join","data":{"room":"vip"}}`,
		`{"event":"join\u0000","data":{"room":"vip"}}`,
		`{"event":"$connect","data":{"room":"vip"}}`,
		`{"event":"__loly:join","data":{"room":"vip"}}`,
		`{"event":"join","event":"join","data":{"room":"vip"}}`,
		`{"event":"join","data":"vip"}`,
		`{"event":"join","data":["vip"]}`,
		strings.Repeat(`{"event":"join","data":{"room":"vip"}}`+"\n", 50),
	}
	for _, a := range attempts {
		if err := intruder.SendRaw([]byte(a)); err != nil {
			t.Fatal(err)
		}
	}
	syncEcho(t, intruder)
	if got := string(testkit.Request(t, intruder, "rooms", nil)); got != "[]" {
		t.Fatalf("the intruder is in %s", got)
	}
	// The route guard of /admin refuses the socket; events pipelined right
	// behind the handshake are never run.
	rc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/admin"), http.Header{"X-User": {"mallory"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for range 20 {
		_ = realtimetest.WriteText(rc, []byte(`{"event":"join"}`))
	}
	raw := &rawConn{t: t, nc: rc, br: bufio.NewReader(rc)}
	for {
		env, cf, err := raw.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if cf != nil {
			if cf.code != realtime.CloseForbidden {
				t.Fatalf("/admin: %v, want 4403", cf)
			}
			break
		}
		if env.Event != realtime.EventError {
			t.Fatalf("/admin sent the refused socket %s", env.Raw)
		}
	}
	users, err := mux.In("/").ToRoom("vip").Users(bg())
	if err != nil || len(users) != 1 || users[0] != "admin" {
		t.Fatalf("vip room: %v, %v; want only admin", users, err)
	}
	// Nothing said in the room reaches the intruder.
	testkit.Request(t, admin, "say", map[string]string{"room": "vip", "text": "secret plans"})
	if _, err := admin.Wait(testkit.Context(t), "said"); err != nil {
		t.Fatal(err)
	}
	syncEcho(t, intruder)
	for _, m := range intruder.Events() {
		if m.Event == "said" {
			t.Fatalf("the intruder heard %s", m.Raw)
		}
	}
	if _, err := intruder.Request(testkit.Context(t), "say", map[string]string{"room": "vip", "text": "hi"}); err == nil {
		t.Fatal("the intruder spoke in the vip room")
	}
}
