// Package engineio is the Engine.IO v4 server transport that Socket.IO
// clients speak: sessions over HTTP long-polling, WebSocket, or polling
// upgraded to WebSocket, with their heartbeat, behind one http.Handler. It
// carries opaque messages for its Handler (package socketio) and knows
// nothing of Socket.IO or of the realtime core.
package engineio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/sendq"
	"github.com/lolyjs/realtime/internal/wsconn"
)

// Engine.IO v4 packet types.
const (
	typeOpen    byte = '0'
	typeClose   byte = '1'
	typePing    byte = '2'
	typePong    byte = '3'
	typeMessage byte = '4'
	typeUpgrade byte = '5'
	typeNoop    byte = '6'
)

// separator separates the packets of one HTTP long-polling payload.
const separator = '\x1e'

// Config configures a Server.
type Config struct {
	PingInterval, PingTimeout time.Duration
	// MaxPayload bounds a polling request's body and a WebSocket message.
	MaxPayload       int
	QueueBytes       int
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
	// Admit decides whether a handshake may open a session. It returns the
	// function to call once the session ends, or an HTTP status and message
	// to refuse it with.
	Admit func(r *http.Request) (release func(), status int, message string)
}

// Handler is what carries the sessions' messages (the Socket.IO layer).
// Its calls for one session are made one at a time, in order.
type Handler interface {
	// Open runs when a session is open.
	Open(s *Session)
	// Message handles one message of the client: the text after the
	// Engine.IO message type, or a binary message.
	Message(s *Session, data []byte, binary bool)
	// Closed runs once, when the session has ended.
	Closed(s *Session, why link.Closed)
}

// Server serves Engine.IO sessions.
type Server struct {
	cfg Config
	h   Handler
	up  *gws.Upgrader

	mu       sync.Mutex
	sessions map[string]*Session
}

// NewServer returns a server for the configuration and handler.
func NewServer(cfg Config, h Handler) *Server {
	srv := &Server{cfg: cfg, h: h, sessions: make(map[string]*Session)}
	srv.up = gws.NewUpgrader(events{}, &gws.ServerOption{
		ReadMaxPayloadSize:  cfg.MaxPayload,
		WriteMaxPayloadSize: 64 << 20,
		HandshakeTimeout:    cfg.HandshakeTimeout,
		NewSession:          func() gws.SessionStorage { return new(wsSession) },
	})
	return srv
}

// Session is one Engine.IO connection. Its packets from the client are
// handled one at a time, in order, whichever transport brings them;
// outgoing ones wait in one byte-bounded queue (internal/sendq): a long-poll
// takes them all at once, a WebSocket writes them one frame each.
type Session struct {
	// Peer is the handler's own state for the session.
	Peer any

	srv     *Server
	id      string
	req     *http.Request
	release func()
	hb      *sendq.Heartbeat
	q       *sendq.Queue

	procMu sync.Mutex // serializes the handling of client packets

	mu       sync.Mutex
	wake     chan struct{} // signals a waiting long-poll
	polling  bool          // a long-poll GET is waiting
	ws       *gws.Conn     // set once the WebSocket transport is in use
	upgraded bool
	probing  bool // a WebSocket probe succeeded: long-polls return at once
	ended    bool
	why      link.Closed
	done     chan struct{}
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Request returns the handshake request.
func (s *Session) Request() *http.Request { return s.req }

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done }

func (srv *Server) newSession(r *http.Request, release func()) *Session {
	s := &Session{srv: srv, id: uuid.NewString(), req: r, release: release,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.q = sendq.New(sendq.Config{
		Limit: srv.cfg.QueueBytes,
		Start: s.kick,
		// A client that lets its queue overflow is evicted; the eviction runs
		// on a goroutine of its own, never under the delivering code's locks.
		Overflow: func() { s.end(link.Closed{Code: 1013, Reason: "slow consumer", ByServer: true}, false) },
	})
	srv.mu.Lock()
	srv.sessions[s.id] = s
	srv.mu.Unlock()
	s.hb = sendq.StartHeartbeat(srv.cfg.PingInterval, srv.cfg.PingTimeout,
		func() { s.q.Push(sendq.Packet{Data: []byte{typePing}}) },
		func() {
			s.end(link.Closed{Code: 1001, Reason: "ping timeout", ByServer: true}, false)
		})
	return s
}

func (srv *Server) session(id string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id]
}

// Shutdown ends every session with a close code, after what is queued.
func (srv *Server) Shutdown(code uint16, reason string) {
	srv.mu.Lock()
	all := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	for _, s := range all {
		s.Close(code, reason)
	}
}

// Kill cuts every session's WebSocket at once.
func (srv *Server) Kill() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, s := range srv.sessions {
		s.mu.Lock()
		if s.ws != nil {
			_ = s.ws.NetConn().Close()
		}
		s.mu.Unlock()
	}
}

func (s *Session) openPacket(upgrades []string) []byte {
	b, _ := json.Marshal(map[string]any{
		"sid":          s.id,
		"upgrades":     upgrades,
		"pingInterval": s.srv.cfg.PingInterval.Milliseconds(),
		"pingTimeout":  s.srv.cfg.PingTimeout.Milliseconds(),
		"maxPayload":   s.srv.cfg.MaxPayload,
	})
	return append([]byte{typeOpen}, b...)
}

// Send queues a packet for the client: an Engine.IO text packet, its type
// first ('4' and the payload for a message), or a binary message. The
// bytes are shared, not copied: they must not change afterwards. It reports
// false when the session is closing or the packet overflowed its queue.
func (s *Session) Send(pkt []byte, binary bool) bool {
	return s.q.Push(sendq.Packet{Data: pkt, Binary: binary})
}

// Close ends the session after what is queued, with a close code (for a
// WebSocket transport).
func (s *Session) Close(code uint16, reason string) {
	s.end(link.Closed{Code: code, Reason: reason, ByServer: true}, true)
}

// kick starts the writer of the transport in use: a WebSocket write job, or
// the waiting long-poll. It must not block: it runs under the locks of the
// code that queues.
func (s *Session) kick() {
	s.mu.Lock()
	ws, upgraded := s.ws, s.upgraded
	s.mu.Unlock()
	if upgraded && ws != nil {
		ws.Async(s.flushWS)
		return
	}
	s.wakePoll()
}

func (s *Session) wakePoll() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// flushWS writes the queue on the WebSocket, one frame per packet, then
// closes the connection when the queue was closed.
func (s *Session) flushWS() {
	s.mu.Lock()
	ws := s.ws
	s.mu.Unlock()
	for {
		batch, cl := s.q.Take()
		if batch == nil {
			if cl != nil {
				wsconn.Close(ws, cl.Code, cl.Reason, cl.Abrupt)
			}
			return
		}
		_ = ws.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
		var err error
		for _, p := range batch {
			op := gws.OpcodeText
			if p.Binary {
				op = gws.OpcodeBinary
			}
			if err = ws.WriteMessage(op, p.Data); err != nil {
				break
			}
			if s.q.Aborted() {
				break
			}
		}
		s.q.Done(batch)
		if err != nil {
			return
		}
	}
}

// end ends the session once: the client gets what was queued (when drain)
// and the close, and the handler hears why. It may be called from anywhere,
// the handler's own calls included: the handler is told on a goroutine of
// its own, after any packet being handled.
func (s *Session) end(why link.Closed, drain bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.why = true, why
	ws := s.ws
	close(s.done)
	s.mu.Unlock()
	s.hb.Stop()
	s.srv.mu.Lock()
	delete(s.srv.sessions, s.id)
	s.srv.mu.Unlock()
	c := sendq.Close{Code: why.Code, Reason: why.Reason, Abrupt: why.Reason == "ping timeout"}
	if drain {
		s.q.CloseAfterDrain(c)
	} else {
		s.q.Abort(c)
	}
	if ws != nil {
		// A write stuck on a client that stopped reading gives up within
		// the grace, so the session is freed.
		_ = ws.NetConn().SetWriteDeadline(time.Now().Add(wsconn.CloseGrace))
	}
	go func() {
		s.procMu.Lock()
		s.srv.h.Closed(s, why)
		s.procMu.Unlock()
		if s.release != nil {
			s.release()
		}
	}()
}

// ServeHTTP answers the Engine.IO requests of a client: the handshake,
// long-polls, posted packets, and WebSocket connections (new, or upgrading
// a polling session). The caller has checked the origin.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, 5, "Unsupported protocol version")
		return
	}
	cors(w, r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	transport, sid := q.Get("transport"), q.Get("sid")
	switch {
	case transport != "polling" && transport != "websocket":
		writeError(w, 0, "Transport unknown")
	case sid == "":
		srv.handshake(w, r, transport)
	default:
		s := srv.session(sid)
		if s == nil {
			writeError(w, 1, "Session ID unknown")
			return
		}
		switch {
		case transport == "websocket":
			s.serveUpgrade(w, r)
		case r.Method == http.MethodGet:
			s.servePoll(w, r)
		case r.Method == http.MethodPost:
			s.servePost(w, r)
		default:
			writeError(w, 2, "Bad handshake method")
		}
	}
}

// cors lets browsers on allowed origins use long-polling with credentials.
func cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Headers", "content-type, authorization")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Add("Vary", "Origin")
}

func writeError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"code":%d,"message":%q}`, code, message)
}

// handshake opens a session: over polling it answers the open packet; over
// WebSocket it upgrades and sends it as the first frame.
func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, transport string) {
	if r.Method != http.MethodGet {
		writeError(w, 2, "Bad handshake method")
		return
	}
	release, status, msg := srv.cfg.Admit(r)
	if release == nil {
		http.Error(w, msg, status)
		return
	}
	if transport == "polling" {
		s := srv.newSession(r, release)
		srv.h.Open(s)
		writePayload(w, []sendq.Packet{{Data: s.openPacket([]string{"websocket"})}})
		return
	}
	ws, err := srv.up.Upgrade(w, r)
	if err != nil {
		release()
		return
	}
	s := srv.newSession(r, release)
	ws.Session().(*wsSession).s = s
	s.mu.Lock()
	s.ws, s.upgraded = ws, true
	s.mu.Unlock()
	s.q.Push(sendq.Packet{Data: s.openPacket([]string{})})
	srv.h.Open(s)
	go ws.ReadLoop()
}

// writePayload answers a long-poll with packets separated by 0x1e; binary
// packets are "b" and base64.
func writePayload(w http.ResponseWriter, pkts []sendq.Packet) {
	var buf bytes.Buffer
	for i, p := range pkts {
		if i > 0 {
			buf.WriteByte(separator)
		}
		if p.Binary {
			buf.WriteByte('b')
			enc := base64.NewEncoder(base64.StdEncoding, &buf)
			_, _ = enc.Write(p.Data)
			_ = enc.Close()
		} else {
			buf.Write(p.Data)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// servePoll is a long-poll: it returns what is queued, waiting for
// something to be queued (a ping at the latest) when nothing is.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.polling || s.upgraded {
		upgraded := s.upgraded
		s.mu.Unlock()
		writeError(w, 3, "Bad request")
		if !upgraded {
			s.end(link.Closed{Code: 1008, Reason: "overlapping polls", ByServer: true}, false)
		}
		return
	}
	s.polling = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.polling = false
		s.mu.Unlock()
	}()
	timeout := time.NewTimer(s.srv.cfg.PingInterval + s.srv.cfg.PingTimeout)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		upgraded, probing := s.upgraded, s.probing
		s.mu.Unlock()
		if upgraded || probing {
			// Upgraded, or moving to the WebSocket: the client waits for
			// this poll to end before it sends the upgrade.
			writePayload(w, []sendq.Packet{{Data: []byte{typeNoop}}})
			return
		}
		batch, cl := s.q.Take()
		switch {
		case batch != nil:
			writePayload(w, batch)
			s.q.Done(batch)
			return
		case cl != nil || s.q.Closing():
			writePayload(w, []sendq.Packet{{Data: []byte{typeClose}}})
			return
		}
		select {
		case <-s.wake:
		case <-s.done:
		case <-r.Context().Done():
			return
		case <-timeout.C:
			writePayload(w, []sendq.Packet{{Data: []byte{typeNoop}}})
			return
		}
	}
}

// servePost takes the packets a polling client sends.
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	max := s.srv.cfg.MaxPayload
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil || len(body) > max {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		s.end(link.Closed{Code: 1009, Reason: "payload too large", ByServer: true}, false)
		return
	}
	for _, pkt := range bytes.Split(body, []byte{separator}) {
		if len(pkt) > 0 && pkt[0] == 'b' {
			raw, err := base64.StdEncoding.DecodeString(string(pkt[1:]))
			if err != nil {
				continue
			}
			s.receive(raw, true)
			continue
		}
		s.receive(pkt, false)
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// serveUpgrade takes a polling session to WebSocket: probe, then upgrade.
func (s *Session) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	bad := s.ended || s.ws != nil
	s.mu.Unlock()
	if bad {
		writeError(w, 3, "Bad request")
		return
	}
	ws, err := s.srv.up.Upgrade(w, r)
	if err != nil {
		return
	}
	ws.Session().(*wsSession).s = s
	s.mu.Lock()
	if s.ended || s.ws != nil {
		s.mu.Unlock()
		_ = ws.WriteClose(1000, nil)
		return
	}
	s.ws = ws // not yet used for sending: the client still polls until "5"
	s.mu.Unlock()
	go ws.ReadLoop()
}

// receive handles one client packet, in order.
func (s *Session) receive(p []byte, binary bool) {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	// The handler recovers its own panics; this guards the session, so that
	// no packet can take the process down.
	defer func() {
		if r := recover(); r != nil {
			s.srv.cfg.Logger.Error("realtime: panic while reading an Engine.IO packet; closing the session",
				"sid", s.id, "panic", fmt.Sprint(r))
			go s.end(link.Closed{Code: 1011, Reason: "internal error", ByServer: true}, false)
		}
	}()
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return
	}
	if binary {
		s.srv.h.Message(s, p, true)
		return
	}
	if len(p) == 0 {
		return
	}
	switch p[0] {
	case typePong:
		s.hb.Seen()
	case typeNoop:
	case typePing:
		if string(p[1:]) == "probe" {
			s.mu.Lock()
			ws := s.ws
			s.probing = ws != nil
			s.mu.Unlock()
			if ws != nil {
				ws.Async(func() { _ = ws.WriteString("3probe") })
			}
			// The waiting long-poll returns a noop so the client can
			// finish the upgrade.
			s.wakePoll()
		}
	case typeUpgrade:
		s.mu.Lock()
		ws := s.ws
		upgrade := ws != nil && !s.upgraded
		s.upgraded = s.upgraded || upgrade
		s.mu.Unlock()
		if upgrade {
			// A long-poll still waiting returns a noop; what is queued goes
			// out on the WebSocket from now on.
			s.wakePoll()
			ws.Async(s.flushWS)
		}
	case typeClose:
		go s.end(link.Closed{Code: 1000, Reason: "client closed"}, false)
	case typeMessage:
		s.srv.h.Message(s, p[1:], false)
	}
}

// wsSession is the gws session storage of an Engine.IO WebSocket; it leads
// the callbacks to the session.
type wsSession struct {
	s *Session
}

func (w *wsSession) Len() int                     { return 0 }
func (w *wsSession) Load(string) (any, bool)      { return nil, false }
func (w *wsSession) Delete(string)                {}
func (w *wsSession) Store(string, any)            {}
func (w *wsSession) Range(func(string, any) bool) {}

// events are the gws callbacks of Engine.IO WebSockets.
type events struct{}

func (events) OnOpen(*gws.Conn) {}

func (events) OnPing(ws *gws.Conn, _ []byte) { _ = ws.WritePong(nil) }

func (events) OnPong(*gws.Conn, []byte) {}

func (events) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	s := ws.Session().(*wsSession).s
	if s == nil {
		return
	}
	s.receive(bytes.Clone(msg.Bytes()), msg.Opcode == gws.OpcodeBinary)
}

// OnClose ends the session when its WebSocket closes, unless the socket was
// only a probe that never completed the upgrade.
func (events) OnClose(ws *gws.Conn, err error) {
	s := ws.Session().(*wsSession).s
	if s == nil {
		return
	}
	s.mu.Lock()
	mine := s.ws == ws
	upgraded := s.upgraded
	if mine && !upgraded {
		// The upgrade failed: the session goes on polling, and polls wait
		// again.
		s.ws, s.probing = nil, false
	}
	s.mu.Unlock()
	if mine && upgraded {
		why := link.Closed{Code: 1006, Reason: "connection lost"}
		if code, reason, ok := wsconn.ClientClose(err); ok {
			why = link.Closed{Code: code, Reason: reason}
		} else if wsconn.TooLarge(err) {
			why = link.Closed{Code: 1009, Reason: "message too large", ByServer: true}
		}
		s.end(why, false)
	}
}
