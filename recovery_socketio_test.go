package realtime_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	bmemory "github.com/lolyjs/realtime/broadcast/memory"
	hmemory "github.com/lolyjs/realtime/history/memory"
	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
	smemory "github.com/lolyjs/realtime/store/memory"
)

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
