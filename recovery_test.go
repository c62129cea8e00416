package realtime_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"io"
	"net"
	"sync"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"

	bmemory "github.com/lolyjs/realtime/broadcast/memory"

	hmemory "github.com/lolyjs/realtime/history/memory"
	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/middleware"

	smemory "github.com/lolyjs/realtime/store/memory"
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

// historyCluster starts two instances in this process that share a store,
// a broker hub and a history log, with the /chat route of the Socket.IO
// tests keeping room history.
func historyCluster(t *testing.T) (*realtimetest.Server, *realtimetest.Server) {
	t.Helper()
	hub, st := bmemory.NewHub(), smemory.New()
	logBroker := hub.Broker()
	log := hmemory.New(logBroker)
	t.Cleanup(func() { _ = log.Close(); _ = logBroker.Close(); _ = st.Close() })
	start := func() *realtimetest.Server {
		br := hub.Broker()
		t.Cleanup(func() { _ = br.Close() })
		// A short heartbeat, so that a client whose long-poll died with the
		// network notices within seconds.
		mux := realtime.New(quiet(realtime.Config{Store: st, Broker: br, History: log,
			PingInterval: time.Second, PingTimeout: 2 * time.Second}))
		mux.Use(middleware.AuthWithOpts(middleware.AuthOpts{Required: true, Hook: func(c *realtime.Ctx) (*realtime.User, error) {
			tok := middleware.HandshakeToken(c, "")
			if !strings.HasPrefix(tok, "t-") {
				return nil, realtime.ErrUnauthorized
			}
			return &realtime.User{ID: strings.TrimPrefix(tok, "t-")}, nil
		}}))
		r := historyRoute(realtime.History{Size: 1000}, nil)
		r.Events["join"] = realtime.Event{Handler: func(c *realtime.Ctx) error {
			var m struct{ Room string }
			if err := c.Bind(&m); err != nil {
				return err
			}
			if err := c.Join(m.Room); err != nil {
				return err
			}
			return c.Ack(map[string]string{"joined": m.Room})
		}}
		mux.Route(r)
		return realtimetest.NewServer(t, mux)
	}
	return start(), start()
}

// cutProxy forwards TCP connections to a backend, until cut: then it closes
// them all, as a network that goes away does from the server's side, and
// refuses new ones for a while before forwarding again, maybe elsewhere.
type cutProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	backend string
	until   time.Time
	conns   []net.Conn
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		backend, refuse := p.backend, time.Now().Before(p.until)
		p.mu.Unlock()
		if refuse {
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
		go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
	}
}

// cut closes every connection, refuses new ones for d, then forwards to next.
func (p *cutProxy) cut(d time.Duration, next string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns, p.backend, p.until = nil, next, time.Now().Add(d)
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

// waitStep reads a client's lines until one of the named step comes.
func waitStep(t *testing.T, c *siotest.Client, step string) siotest.Line {
	t.Helper()
	for {
		if l := c.Next(t); l["step"] == step {
			return l
		}
	}
}

// socket.io-client with its connection state recovery, unchanged, against
// the server: after a 5 s network cut (the server's side closing the TCP
// connection), it reconnects, to the same instance or to the other one, and
// is recovered: socket.recovered is true and the events emitted to its room
// meanwhile arrive once, in order, before the live ones.
func TestSocketIOConnectionStateRecovery(t *testing.T) {
	siotest.NeedNode(t)
	for _, tc := range []struct {
		name      string
		other     bool
		transport string
	}{
		{"same instance, websocket", false, "websocket"},
		{"another instance, polling", true, "polling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := historyCluster(t)
			next := a
			if tc.other {
				next = b
			}
			proxy := newCutProxy(t, a.Listener.Addr().String())
			const before, during, after = 5, 10, 5
			c := siotest.Start(t, "csr", map[string]any{"url": proxy.url(), "token": "t-alice", "room": "r",
				"expect": before + during + after, "client": map[string]any{"transports": []string{tc.transport}}})
			waitStep(t, c, "joined")
			emit := func(srv *realtimetest.Server, from, to int) {
				for i := from; i < to; i++ {
					if err := srv.Mux.In("/chat").ToRoom("r").Emit("said", map[string]string{"text": fmt.Sprint(i)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			emit(b, 0, before)
			for range before {
				waitStep(t, c, "said")
			}
			proxy.cut(5*time.Second, next.Listener.Addr().String())
			waitStep(t, c, "disconnect")
			emit(b, before, before+during)
			if l := waitStep(t, c, "connect"); l["recovered"] != true {
				t.Fatalf("reconnected without recovery: %s", siotest.JSON(l))
			}
			emit(a, before+during, before+during+after)
			lines, err := c.Wait()
			if err != nil {
				t.Fatalf("%v\n%s", err, siotest.Dump(lines))
			}
			got := siotest.Step(t, lines, "got")["value"].([]any)
			var want []any
			for i := range before + during + after {
				want = append(want, fmt.Sprint(i))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("events %v, want each of 0..%d once, in order", got, len(want)-1)
			}
		})
	}
}
