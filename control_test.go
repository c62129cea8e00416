package realtime_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	bmemory "github.com/lolyjs/realtime/broadcast/memory"
	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
	smemory "github.com/lolyjs/realtime/store/memory"
)

// The socket-control tests: Target.Disconnect, Join and Leave, and
// ToSocket, on one instance and on two joined by broadcast/memory, with
// clients that read the close frame the server really sends.

// ctlServer is the server of these tests. Users come from ?user=. A socket
// dialled with ?gate=1 has its connect handler report the socket's id on
// entered and wait for release; it then joins "lobby" and replies
// "welcome" with what that join did, and refuses the socket when ?refuse=1.
// With ?close=1 the connect handler closes its own socket, then replies
// "after-close".
type ctlServer struct {
	mux     *realtime.Mux
	srv     *realtimetest.Server
	left    chan ctlLeft
	entered chan string
	release chan struct{}
}

// ctlLeft is what a disconnect handler saw.
type ctlLeft struct {
	id     string
	reason error
	rooms  []string
}

func queryUser(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		if c.Kind() == realtime.KindConnect {
			if id := c.Request().URL.Query().Get("user"); id != "" {
				if err := c.SetUser(&realtime.User{ID: id}); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

func newCtlServer(t *testing.T, cfg realtime.Config) *ctlServer {
	t.Helper()
	cs := &ctlServer{left: make(chan ctlLeft, 64), entered: make(chan string, 8), release: make(chan struct{})}
	mux := realtime.New(quiet(cfg))
	mux.Use(queryUser)
	mux.OnConnect(func(c *realtime.Ctx) error {
		q := c.Request().URL.Query()
		if q.Get("close") != "" {
			c.Socket().Close(4007, "closed by its connect")
			return c.Reply("after-close", nil)
		}
		if q.Get("gate") == "" {
			return nil
		}
		cs.entered <- c.SocketID()
		<-cs.release
		err := c.Join("lobby")
		if err := c.Reply("welcome", map[string]any{"joinErr": fmt.Sprint(err), "inLobby": c.Socket().InRoom("lobby")}); err != nil {
			return err
		}
		if q.Get("refuse") != "" {
			return realtime.ErrForbidden
		}
		return nil
	})
	mux.OnDisconnect(func(c *realtime.Ctx) error {
		cs.left <- ctlLeft{c.SocketID(), c.DisconnectReason(), c.Socket().Rooms()}
		return nil
	})
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Data()) })
	mux.On("join", func(c *realtime.Ctx) error {
		var room string
		if err := c.Bind(&room); err != nil {
			return err
		}
		return c.Join(room)
	})
	mux.On("rooms", func(c *realtime.Ctx) error { return c.Ack(c.Socket().Rooms()) })
	mux.On("kick", func(c *realtime.Ctx) error {
		var k struct {
			ID     string `json:"id"`
			Code   uint16 `json:"code"`
			Reason string `json:"reason"`
		}
		if err := c.Bind(&k); err != nil {
			return err
		}
		return c.ToSocket(k.ID).Disconnect(k.Code, k.Reason)
	})
	mux.On("logout-others", func(c *realtime.Ctx) error {
		return c.ToUser(c.UserID()).Except(c.SocketID()).Disconnect(4002, "signed in elsewhere")
	})
	cs.mux = mux
	cs.srv = realtimetest.NewServer(t, mux)
	t.Cleanup(cs.open)
	return cs
}

// open lets gated connects go on.
func (cs *ctlServer) open() {
	select {
	case <-cs.release:
	default:
		close(cs.release)
	}
}

// leftFor waits for the disconnect handler of socket id.
func (cs *ctlServer) leftFor(t *testing.T, id string) ctlLeft {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-cs.left:
			if l.id == id {
				return l
			}
		case <-deadline:
			t.Fatalf("the disconnect handler of %s did not run", id)
		}
	}
}

// memoryPair is two instances joined by broadcast/memory.
func memoryPair(t *testing.T) (*ctlServer, *ctlServer) {
	hub, st := bmemory.NewHub(), smemory.New()
	t.Cleanup(func() { _ = st.Close() })
	mk := func() *ctlServer {
		br := hub.Broker()
		t.Cleanup(func() { _ = br.Close() })
		return newCtlServer(t, realtime.Config{Store: st, Broker: br, PresenceTTL: time.Minute})
	}
	return mk(), mk()
}

// ctlClient is a native client read frame by frame, so that the test sees
// the close frame's code and reason as sent.
type ctlClient struct {
	*rawConn
	id string
}

// dialCtl opens a native socket with the query and, unless gated, reads its
// __loly:connected.
func dialCtl(t *testing.T, cs *ctlServer, query string) *ctlClient {
	t.Helper()
	nc, err := realtimetest.DialRaw(testkit.Context(t), cs.srv.URL("/")+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &ctlClient{rawConn: &rawConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}}
	if !strings.Contains(query, "gate=") {
		c.connected()
	}
	return c
}

// connected reads __loly:connected and keeps the socket id.
func (c *ctlClient) connected() {
	c.t.Helper()
	env := c.event(realtime.EventConnected)
	var info struct {
		SocketID string `json:"socketId"`
	}
	if err := json.Unmarshal(env.Data, &info); err != nil || info.SocketID == "" {
		c.t.Fatalf("connected notice %s", env.Raw)
	}
	c.id = info.SocketID
}

// event reads the next envelope and checks that it is the event.
func (c *ctlClient) event(name string) rawEnvelope {
	c.t.Helper()
	env, cf, err := c.next(10 * time.Second)
	if err != nil || cf != nil || env.Event != name {
		c.t.Fatalf("want %s, got %+v (close %v, %v)", name, env, cf, err)
	}
	return env
}

// closedWith reads until the close frame, checks its code and reason, and
// answers it, completing the closing handshake.
func (c *ctlClient) closedWith(code uint16, reason string) {
	c.t.Helper()
	cf := c.waitClose(10 * time.Second)
	if cf.code != code || cf.reason != reason {
		c.t.Fatalf("socket %s closed with %v, want %d %q", c.id, cf, code, reason)
	}
	_ = c.writeFrame(true, opClose, binary.BigEndian.AppendUint16(nil, code), true, 0)
}

// alive checks that the socket still answers.
func (c *ctlClient) alive() {
	c.t.Helper()
	c.syncAck(c.nextID())
}

var ctlIDs atomic.Int64

func (c *ctlClient) nextID() int64 { return ctlIDs.Add(1) }

// request sends an event with an ack id and returns its ack.
func (c *ctlClient) request(event string, data any) rawEnvelope {
	c.t.Helper()
	id := c.nextID()
	raw, _ := json.Marshal(map[string]any{"event": event, "data": data, "id": id})
	if err := c.text(string(raw)); err != nil {
		c.t.Fatal(err)
	}
	for {
		env, cf, err := c.next(10 * time.Second)
		if err != nil || cf != nil {
			c.t.Fatalf("waiting for the ack of %s: %v %v", event, cf, err)
		}
		if env.Event == "" && env.Ack == id {
			return env
		}
	}
}

func (c *ctlClient) rooms() string {
	c.t.Helper()
	return string(c.request("rooms", nil).Data)
}

func wantServerClose(t *testing.T, l ctlLeft, code uint16, reason string) {
	t.Helper()
	var ce *realtime.CloseError
	if !errors.As(l.reason, &ce) || ce.Code != code || ce.Reason != reason || ce.ByClient {
		t.Fatalf("disconnect reason of %s: %#v, want the server's close %d %q", l.id, l.reason, code, reason)
	}
}

// Every kind of target closes its sockets, and only them, with the chosen
// code and reason in the close frame and in the disconnect reason.
func TestDisconnectTargetsCloseWithCodeAndReason(t *testing.T) {
	cs := newCtlServer(t, realtime.Config{})
	in := cs.mux.In("/")
	for _, tc := range []struct {
		name   string
		target func(a1, a2, b *ctlClient) realtime.Target
		closed func(a1, a2, b *ctlClient) []*ctlClient
	}{
		{"user", func(a1, a2, b *ctlClient) realtime.Target { return in.ToUser("u1") },
			func(a1, a2, b *ctlClient) []*ctlClient { return []*ctlClient{a1, a2} }},
		{"room", func(a1, a2, b *ctlClient) realtime.Target { return in.ToRoom("r") },
			func(a1, a2, b *ctlClient) []*ctlClient { return []*ctlClient{a2, b} }},
		{"socket", func(a1, a2, b *ctlClient) realtime.Target { return in.ToSocket(a2.id) },
			func(a1, a2, b *ctlClient) []*ctlClient { return []*ctlClient{a2} }},
		{"namespace-except", func(a1, a2, b *ctlClient) realtime.Target { return in.Except(b.id) },
			func(a1, a2, b *ctlClient) []*ctlClient { return []*ctlClient{a1, a2} }},
		{"user-except", func(a1, a2, b *ctlClient) realtime.Target { return in.ToUser("u1").Except(a1.id) },
			func(a1, a2, b *ctlClient) []*ctlClient { return []*ctlClient{a2} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a1, a2, b := dialCtl(t, cs, "user=u1"), dialCtl(t, cs, "user=u1"), dialCtl(t, cs, "user=u2")
			a2.request("join", "r")
			b.request("join", "r")
			if err := tc.target(a1, a2, b).Disconnect(4001, "signed out ✓"); err != nil {
				t.Fatal(err)
			}
			closed := tc.closed(a1, a2, b)
			for _, c := range closed {
				c.closedWith(4001, "signed out ✓")
				wantServerClose(t, cs.leftFor(t, c.id), 4001, "signed out ✓")
			}
		next:
			for _, c := range []*ctlClient{a1, a2, b} {
				for _, x := range closed {
					if x == c {
						continue next
					}
				}
				c.alive()
			}
		})
	}
}

// A handler logs its user out everywhere else: Ctx.ToUser with Except.
// Ctx.ToSocket kicks one socket by id.
func TestDisconnectFromHandlers(t *testing.T) {
	cs := newCtlServer(t, realtime.Config{})
	a1, a2, a3 := dialCtl(t, cs, "user=u1"), dialCtl(t, cs, "user=u1"), dialCtl(t, cs, "user=u1")
	other := dialCtl(t, cs, "user=u2")
	if ack := a1.request("logout-others", nil); ack.Error != nil {
		t.Fatalf("logout-others: %s", ack.Raw)
	}
	a2.closedWith(4002, "signed in elsewhere")
	a3.closedWith(4002, "signed in elsewhere")
	a1.alive()
	if ack := a1.request("kick", map[string]any{"id": other.id, "code": 4010, "reason": "kicked"}); ack.Error != nil {
		t.Fatalf("kick: %s", ack.Raw)
	}
	other.closedWith(4010, "kicked")
	a1.alive()
}

// Close codes a server may not choose, reasons that do not fit a close
// frame, and targets that name nothing are refused with an error, and
// nothing is closed.
func TestDisconnectRefusesBadInput(t *testing.T) {
	cs := newCtlServer(t, realtime.Config{})
	c := dialCtl(t, cs, "user=u1")
	target := cs.mux.In("/").ToUser("u1")
	for _, code := range []uint16{0, 999, 1002, 1003, 1005, 1006, 1007, 1009, 1010, 1012, 1014, 1015, 2000, 3000, 3999, 5000, 65535} {
		if err := target.Disconnect(code, "x"); err == nil || !strings.Contains(err.Error(), fmt.Sprint(code)) {
			t.Fatalf("close code %d: %v", code, err)
		}
	}
	for _, reason := range []string{strings.Repeat("x", 124), "bad \xff utf-8"} {
		if err := target.Disconnect(4000, reason); err == nil {
			t.Fatalf("reason %q accepted", reason)
		}
	}
	if err := (realtime.Target{}).Disconnect(4000, ""); err == nil {
		t.Fatal("Disconnect on a zero Target accepted")
	}
	if err := cs.mux.In("/").ToSocket("").Disconnect(4000, ""); err == nil {
		t.Fatal("Disconnect of an empty socket id accepted")
	}
	c.alive()
	// The codes that may be chosen, on a target of nobody.
	nobody := cs.mux.In("/").ToUser("nobody")
	for _, code := range []uint16{1000, 1001, 1008, 1011, 1013, 4000, 4401, 4999} {
		if err := nobody.Disconnect(code, strings.Repeat("é", 61)); err != nil {
			t.Fatalf("close code %d: %v", code, err)
		}
	}
}

// Join and Leave on targets put sockets in and out of rooms, honouring
// Except; room names are checked as Socket.Join checks them; a socket at
// its room limit is left out of a join, the others join.
func TestTargetJoinAndLeave(t *testing.T) {
	cs := newCtlServer(t, realtime.Config{Limits: realtime.Limits{MaxRoomsPerSocket: 2}})
	in := cs.mux.In("/")
	a1, a2, b := dialCtl(t, cs, "user=u1"), dialCtl(t, cs, "user=u1"), dialCtl(t, cs, "user=u2")
	if err := in.ToUser("u1").Join("r"); err != nil {
		t.Fatal(err)
	}
	if err := in.ToSocket(b.id).Join("s"); err != nil {
		t.Fatal(err)
	}
	if err := in.ToRoom("r").Except(a1.id).Join("t"); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[*ctlClient]string{a1: `["r"]`, a2: `["r","t"]`, b: `["s"]`} {
		if got := c.rooms(); got != want {
			t.Fatalf("socket %s is in %s, want %s", c.id, got, want)
		}
	}
	// a2 is at its limit of 2: left out; a1 joins.
	if err := in.ToUser("u1").Join("full"); err != nil {
		t.Fatal(err)
	}
	if got := a1.rooms(); got != `["full","r"]` {
		t.Fatalf("a1 is in %s", got)
	}
	if got := a2.rooms(); got != `["r","t"]` {
		t.Fatalf("a2, at its room limit, is in %s", got)
	}
	if err := in.ToSocket(a2.id).Leave("r"); err != nil {
		t.Fatal(err)
	}
	if err := in.ToRoom("full").Leave("full"); err != nil {
		t.Fatal(err)
	}
	if got := a1.rooms() + a2.rooms(); got != `["r"]["t"]` {
		t.Fatalf("after the leaves: %s", got)
	}
	for _, room := range []string{"", strings.Repeat("r", 257)} {
		for name, op := range map[string]func(string) error{"Join": in.ToUser("u1").Join, "Leave": in.ToUser("u1").Leave} {
			var e *realtime.Error
			if err := op(room); !errors.As(err, &e) || e.Code != realtime.CodeBadPayload {
				t.Fatalf("%s of a %d-byte room: %v", name, len(room), err)
			}
		}
	}
	if err := (realtime.Target{}).Join("r"); err == nil {
		t.Fatal("Join on a zero Target accepted")
	}
}

// ToSocket is a Target for Emit too; Users has no answer for it.
func TestToSocketEmit(t *testing.T) {
	cs := newCtlServer(t, realtime.Config{})
	a, b := dialCtl(t, cs, "user=u1"), dialCtl(t, cs, "user=u1")
	if err := cs.mux.In("/").ToSocket(b.id).Emit("only-you", 1); err != nil {
		t.Fatal(err)
	}
	if env := b.event("only-you"); string(env.Data) != "1" {
		t.Fatalf("got %s", env.Raw)
	}
	if got := a.syncAck(a.nextID()); len(got) != 0 {
		t.Fatalf("the other socket got %v", got)
	}
	if _, err := cs.mux.In("/").ToSocket(b.id).Users(bg()); err == nil {
		t.Fatal("Users on a socket target answered")
	}
}

// A Disconnect that arrives while the socket's connect handler still runs
// takes effect when the connect ends: the client first gets its connected
// notice and what the connect sent it, then the close; a join meanwhile,
// from a target or from the connect handler itself, does nothing. If the
// connect refuses the socket instead, the refusal is what the client gets.
func TestDisconnectDuringConnect(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		cs := newCtlServer(t, realtime.Config{})
		c := dialCtl(t, cs, "user=u1&gate=1")
		id := receive(t, cs.entered, "the connect handler")
		in := cs.mux.In("/")
		if err := in.ToUser("u1").Disconnect(4003, "kicked while connecting"); err != nil {
			t.Fatal(err)
		}
		if err := in.ToSocket(id).Join("late"); err != nil {
			t.Fatal(err)
		}
		cs.open()
		c.connected()
		if c.id != id {
			t.Fatalf("socket %s, connect handler saw %s", c.id, id)
		}
		if env := c.event("welcome"); string(env.Data) != `{"inLobby":false,"joinErr":"\u003cnil\u003e"}` {
			t.Fatalf("welcome %s", env.Raw)
		}
		c.closedWith(4003, "kicked while connecting")
		l := cs.leftFor(t, id)
		wantServerClose(t, l, 4003, "kicked while connecting")
		if len(l.rooms) != 0 {
			t.Fatalf("the kicked socket was in %v", l.rooms)
		}
	})
	t.Run("refused", func(t *testing.T) {
		cs := newCtlServer(t, realtime.Config{})
		c := dialCtl(t, cs, "user=u1&gate=1&refuse=1")
		receive(t, cs.entered, "the connect handler")
		if err := cs.mux.In("/").ToUser("u1").Disconnect(4003, "kicked while connecting"); err != nil {
			t.Fatal(err)
		}
		cs.open()
		if e := c.event(realtime.EventError).errorData(t); e.Code != realtime.CodeForbidden {
			t.Fatalf("refusal %+v", e)
		}
		if cf := c.waitClose(10 * time.Second); cf.code != realtime.CloseForbidden {
			t.Fatalf("refused socket closed with %v", cf)
		}
	})
}

// A Join for a socket that is closing (its close frame sent, the client's
// answer not back yet) does nothing: the socket leaves in no room.
func TestJoinOfClosingSocketDoesNothing(t *testing.T) {
	cs := newCtlServer(t, realtime.Config{})
	c := dialCtl(t, cs, "user=u1")
	target := cs.mux.In("/").ToSocket(c.id)
	if err := target.Disconnect(4004, "bye"); err != nil {
		t.Fatal(err)
	}
	// The client has not answered the close: the socket is still there.
	if err := target.Join("late"); err != nil {
		t.Fatal(err)
	}
	if err := cs.mux.In("/").ToUser("u1").Join("later"); err != nil {
		t.Fatal(err)
	}
	c.closedWith(4004, "bye")
	if l := cs.leftFor(t, c.id); len(l.rooms) != 0 {
		t.Fatalf("the closing socket was put in %v", l.rooms)
	}
}

// The same operations from one instance reach the sockets of another, over
// broadcast/memory; a socket found locally is not looked for elsewhere.
func TestSocketControlAcrossInstances(t *testing.T) {
	a, b := memoryPair(t)
	inA := a.mux.In("/")
	onB1, onB2, onB3 := dialCtl(t, b, "user=u1"), dialCtl(t, b, "user=u1"), dialCtl(t, b, "user=u2")
	onA := dialCtl(t, a, "user=u1")

	// Join from A, then a marker on the same user topic: once the marker
	// is in, B has handled the join.
	if err := inA.ToUser("u1").Except(onB2.id).Join("r"); err != nil {
		t.Fatal(err)
	}
	if err := inA.ToUser("u1").Emit("marker", nil); err != nil {
		t.Fatal(err)
	}
	onB1.event("marker")
	onB2.event("marker")
	onA.event("marker")
	for c, want := range map[*ctlClient]string{onB1: `["r"]`, onB2: `[]`, onA: `["r"]`} {
		if got := c.rooms(); got != want {
			t.Fatalf("socket %s is in %s, want %s", c.id, got, want)
		}
	}
	if err := inA.ToSocket(onB3.id).Join("s"); err != nil {
		t.Fatal(err)
	}
	if err := inA.ToSocket(onB3.id).Emit("marker", nil); err != nil {
		t.Fatal(err)
	}
	if env := onB3.event("marker"); env.Data != nil {
		t.Fatalf("marker %s", env.Raw)
	}
	if got := onB3.rooms(); got != `["s"]` {
		t.Fatalf("socket on B is in %s", got)
	}
	if err := inA.ToRoom("r").Leave("r"); err != nil {
		t.Fatal(err)
	}
	if err := inA.ToUser("u1").Emit("marker", nil); err != nil {
		t.Fatal(err)
	}
	onB1.event("marker")
	if got := onB1.rooms(); got != `[]` {
		t.Fatalf("after the leave, socket on B is in %s", got)
	}

	if err := inA.ToUser("u1").Except(onB1.id).Disconnect(4001, "signed out"); err != nil {
		t.Fatal(err)
	}
	onA.closedWith(4001, "signed out")
	onB2.closedWith(4001, "signed out")
	wantServerClose(t, b.leftFor(t, onB2.id), 4001, "signed out")
	if err := inA.ToSocket(onB3.id).Disconnect(1008, "policy"); err != nil {
		t.Fatal(err)
	}
	onB3.closedWith(1008, "policy")
	onB1.alive()
}

// Emits that look like control operations, by their event name or by a
// skipped socket id that smuggles in fields, reach the other instance's
// clients as emits, and close nothing.
func TestEmitsCannotPassForControl(t *testing.T) {
	a, b := memoryPair(t)
	c := dialCtl(t, b, "user=u1")
	in := a.mux.In("/")
	if err := in.Emit("!disconnect", map[string]any{"code": 4000, "reason": "forged"}); err != nil {
		t.Fatal(err)
	}
	if err := in.Except("x\n!disconnect").Emit("e", map[string]any{"code": 4000}); err != nil {
		t.Fatal(err)
	}
	if err := in.ToUser("u1").Except("\n\n!disconnect\n{\"code\":4000}").Emit("!join", "r"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"!disconnect", "e", "!join"} {
		c.event(want)
	}
	c.alive()
	if got := c.rooms(); got != `[]` {
		t.Fatalf("socket is in %s", got)
	}
}

// The real socket.io-client sees a Disconnect as a disconnect from the
// server ("io server disconnect"), on its own instance or from another; the
// disconnect handler gets the code and reason.
func TestSocketIOClientDisconnectedByTarget(t *testing.T) {
	siotest.NeedNode(t)
	for _, where := range []string{"local", "remote"} {
		t.Run(where, func(t *testing.T) {
			a, b := memoryPair(t)
			from := b
			if where == "remote" {
				from = a
			}
			cl := siotest.Start(t, "kicked", map[string]any{"url": b.srv.Server.URL, "path": "/wss", "ns": "/",
				"query": map[string]string{"user": "s1"}})
			l := cl.Next(t)
			id, _ := l["id"].(string)
			if l["step"] != "connected" || id == "" {
				t.Fatalf("client: %s", siotest.JSON(l))
			}
			if err := from.mux.In("/").ToSocket(id).Disconnect(4005, "bye"); err != nil {
				t.Fatal(err)
			}
			l = cl.Next(t)
			if l["step"] != "disconnected" || l["reason"] != "io server disconnect" {
				t.Fatalf("client: %s", siotest.JSON(l))
			}
			wantServerClose(t, b.leftFor(t, id), 4005, "bye")
		})
	}
}

// A Socket.IO socket disconnected while its connect runs gets its connect,
// what the connect sent, then the disconnect; its disconnect handler runs.
func TestSocketIOClientDisconnectedDuringConnect(t *testing.T) {
	siotest.NeedNode(t)
	cs := newCtlServer(t, realtime.Config{})
	cl := siotest.Start(t, "kicked", map[string]any{"url": cs.srv.Server.URL, "path": "/wss", "ns": "/",
		"query": map[string]string{"user": "s1", "gate": "1"}, "events": []string{"welcome"}})
	id := receive(t, cs.entered, "the connect handler")
	if err := cs.mux.In("/").ToUser("s1").Disconnect(4006, "not now"); err != nil {
		t.Fatal(err)
	}
	cs.open()
	if l := cl.Next(t); l["step"] != "connected" || l["id"] != id {
		t.Fatalf("client: %s", siotest.JSON(l))
	}
	l := cl.Next(t)
	want := `[["connect"],["welcome",{"inLobby":false,"joinErr":"\u003cnil\u003e"}],["disconnect","io server disconnect"]]`
	if got := siotest.JSON(l["seen"]); l["step"] != "disconnected" || got != want {
		t.Fatalf("client saw %s\nwant %s", siotest.JSON(l), want)
	}
	wantServerClose(t, cs.leftFor(t, id), 4006, "not now")
}

// A socket closed by its own connect handler is accepted, gets what the
// connect sent, then the close; its disconnect handler runs. (Socket.IO
// sockets used to stay in their namespace for ever, their disconnect never
// run, their client told of the disconnect before the connect.)
func TestCloseInConnectHandler(t *testing.T) {
	cs := newCtlServer(t, realtime.Config{})
	c := dialCtl(t, cs, "user=u1&close=1")
	c.event("after-close")
	c.closedWith(4007, "closed by its connect")
	wantServerClose(t, cs.leftFor(t, c.id), 4007, "closed by its connect")

	siotest.NeedNode(t)
	cl := siotest.Start(t, "kicked", map[string]any{"url": cs.srv.Server.URL, "path": "/wss", "ns": "/",
		"query": map[string]string{"user": "s1", "close": "1"}, "events": []string{"after-close"}})
	l := cl.Next(t)
	id, _ := l["id"].(string)
	if l["step"] != "connected" || id == "" {
		t.Fatalf("client: %s", siotest.JSON(l))
	}
	l = cl.Next(t)
	want := `[["connect"],["after-close",null],["disconnect","io server disconnect"]]`
	if got := siotest.JSON(l["seen"]); got != want {
		t.Fatalf("client saw %s\nwant %s", siotest.JSON(l), want)
	}
	wantServerClose(t, cs.leftFor(t, id), 4007, "closed by its connect")
}

// A socket the application disconnects leaves no session to recover: its
// client comes back with its rooms gone and the failure told, where one
// that lost its connection gets them back (TestNativeRecovery).
func TestDisconnectedSocketIsNotRecovered(t *testing.T) {
	srv := historyServer(t, realtime.History{Size: 50}, nil)
	alice := dialAs(t, srv, "/chat", "alice")
	testkit.Request(t, alice, "join", map[string]string{"room": "r1"})
	session, offset := alice.Session, alice.LastOffset()
	if err := srv.Mux.In("/chat").ToUser("alice").Disconnect(4001, "signed out"); err != nil {
		t.Fatal(err)
	}
	if code, err := alice.WaitClosed(testkit.Context(t)); err != nil || code != 4001 || alice.CloseReason() != "signed out" {
		t.Fatalf("closed with %d %q, %v", code, alice.CloseReason(), err)
	}
	// Once alice is out of the presence, her disconnect has run.
	testkit.Eventually(t, "alice's socket to leave", func() bool {
		u, _ := srv.Mux.In("/chat").Users(bg())
		return len(u) == 0
	})
	back := realtimetest.MustDial(t, srv.URL("/chat"), &realtimetest.Options{
		Header: headerUser("alice"), Session: session, Offset: offset})
	if back.Recovered || back.RecoveryFailure != "unknown or expired session" {
		t.Fatalf("recovered %v, failure %q", back.Recovered, back.RecoveryFailure)
	}
	if got := string(testkit.Request(t, back, "rooms", nil)); got != `[]` {
		t.Fatalf("rooms after the reconnect: %s", got)
	}
}
