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
	"strings"
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
	MaxPayload   int
	QueueBytes   int
	WriteTimeout time.Duration
	// HandshakeTimeout bounds a WebSocket handshake, and the upgrade of a
	// polling session: from its probe WebSocket to the upgrade packet.
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
	posting  bool          // a POST is being read
	ws       *gws.Conn     // the WebSocket: the transport once upgraded, the probe before
	upgraded bool
	probing  bool        // a WebSocket probe succeeded: long-polls return at once
	probeEnd *time.Timer // ends a probe that does not complete the upgrade in time
	linger   *time.Timer // forgets an ended polling session no poll came for
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
	// The heartbeat's goroutine reads s.hb under s.mu (in end); requests
	// find the session, hb set, through srv.mu.
	s.mu.Lock()
	s.hb = sendq.StartHeartbeat(srv.cfg.PingInterval, srv.cfg.PingTimeout,
		func() { s.q.Push(sendq.Packet{Data: []byte{typePing}}) },
		func() {
			s.end(link.Closed{Code: 1001, Reason: "ping timeout", ByServer: true}, false)
		})
	s.mu.Unlock()
	srv.mu.Lock()
	srv.sessions[s.id] = s
	srv.mu.Unlock()
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
	// In the reference server's order.
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{s.id, upgrades, s.srv.cfg.PingInterval.Milliseconds(), s.srv.cfg.PingTimeout.Milliseconds(), s.srv.cfg.MaxPayload})
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
	ws, hb := s.ws, s.hb
	if s.probeEnd != nil {
		s.probeEnd.Stop()
	}
	// A polling session drained stays known until a poll takes what is
	// left and the close packet, or the client is presumed gone.
	if drain && !s.upgraded {
		s.linger = time.AfterFunc(s.srv.cfg.PingInterval+s.srv.cfg.PingTimeout, s.forget)
	}
	lingering := s.linger != nil
	close(s.done)
	s.mu.Unlock()
	hb.Stop()
	if !lingering {
		s.forget()
	}
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

// Engine.IO error codes, with the messages of the reference server.
const (
	codeUnknownTransport = iota
	codeUnknownSID
	codeBadHandshakeMethod
	codeBadRequest
	codeForbidden
	codeUnsupportedProtocol
)

var codeMessages = [...]string{"Transport unknown", "Session ID unknown", "Bad handshake method", "Bad request", "Forbidden", "Unsupported protocol version"}

// forget removes an ended session from the server: its requests get
// "Session ID unknown" from now on.
func (s *Session) forget() {
	s.mu.Lock()
	if s.linger != nil {
		s.linger.Stop()
	}
	s.mu.Unlock()
	s.srv.mu.Lock()
	if s.srv.sessions[s.id] == s {
		delete(s.srv.sessions, s.id)
	}
	s.srv.mu.Unlock()
}

// ServeHTTP answers the Engine.IO requests of a client: the handshake,
// long-polls, posted packets, and WebSocket connections (new, or upgrading
// a polling session). A request it cannot serve gets HTTP 400 with the
// Engine.IO error object ({"code":3,"message":"Bad request"}), and
// Connection: close when it asked for a WebSocket. The caller has checked
// the origin.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		refuse(w, r, codeUnsupportedProtocol)
		return
	}
	cors(w, r)
	if r.Method == http.MethodOptions && !wsconn.IsUpgrade(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	transport, sid := q.Get("transport"), q.Get("sid")
	switch {
	case transport != "polling" && transport != "websocket":
		refuse(w, r, codeUnknownTransport)
		return
	case sid == "" && r.Method != http.MethodGet:
		refuse(w, r, codeBadHandshakeMethod)
		return
	case transport == "websocket":
		if status, _ := wsconn.CheckHandshake(r); status != 0 {
			refuse(w, r, codeBadRequest)
			return
		}
	}
	if sid == "" {
		srv.handshake(w, r, transport)
		return
	}
	s := srv.session(sid)
	if s == nil {
		refuse(w, r, codeUnknownSID)
		return
	}
	if transport == "websocket" {
		s.serveUpgrade(w, r)
		return
	}
	s.mu.Lock()
	upgraded := s.upgraded
	s.mu.Unlock()
	switch {
	case upgraded: // the session has moved to its WebSocket
		refuse(w, r, codeBadRequest)
	case r.Method == http.MethodGet:
		s.servePoll(w, r)
	case r.Method == http.MethodPost:
		s.servePost(w, r)
	default:
		refuse(w, r, codeBadRequest)
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

// refuse answers a request with HTTP 400 and an Engine.IO error object.
func refuse(w http.ResponseWriter, r *http.Request, code int) {
	wsconn.Refuse(w, r, http.StatusBadRequest, "application/json",
		`{"code":`+strconv.Itoa(code)+`,"message":"`+codeMessages[code]+`"}`)
}

// handshake opens a session: over polling it answers the open packet; over
// WebSocket it upgrades and sends it as the first frame.
func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, transport string) {
	release, status, msg := srv.cfg.Admit(r)
	if release == nil {
		wsconn.Refuse(w, r, status, "text/plain; charset=utf-8", msg)
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
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// servePoll is a long-poll: it returns what is queued, waiting for
// something to be queued (a ping at the latest) when nothing is. A second
// poll while one waits breaks the protocol: it gets 400 and the session
// ends (the waiting one gets the close packet).
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.polling {
		s.mu.Unlock()
		refuse(w, r, codeBadRequest)
		s.end(link.Closed{Code: 1008, Reason: "overlapping polls", ByServer: true}, false)
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
			closing := s.q.Closing()
			if closing {
				// Nothing more will be queued: the close goes with the rest.
				batch = append(batch[:len(batch):len(batch)], sendq.Packet{Data: []byte{typeClose}})
			}
			writePayload(w, batch)
			s.q.Done(batch)
			if closing {
				s.forget()
			}
			return
		case cl != nil || s.q.Closing():
			s.mu.Lock()
			byServer := s.why.ByServer
			s.mu.Unlock()
			// A session the server ends tells the poll so; one the client
			// closed ends its poll with a noop, as the reference does.
			last := typeClose
			if !byServer {
				last = typeNoop
			}
			writePayload(w, []sendq.Packet{{Data: []byte{last}}})
			s.forget()
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

// servePost takes the packets a polling client sends. A packet that breaks
// the protocol ends the session and the request gets 400, as do a second
// POST while one is read and a binary body (Engine.IO v4 sends binary as
// base64 text).
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") {
		refuse(w, r, codeBadRequest)
		s.violation("a binary request body")
		return
	}
	s.mu.Lock()
	if s.posting {
		s.mu.Unlock()
		refuse(w, r, codeBadRequest)
		s.violation("overlapping posts")
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()
	max := s.srv.cfg.MaxPayload
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil || len(body) > max {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		s.end(link.Closed{Code: 1009, Reason: "payload too large", ByServer: true}, false)
		return
	}
	for _, pkt := range bytes.Split(body, []byte{separator}) {
		if !s.receive(pkt, false, nil) {
			refuse(w, r, codeBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// serveUpgrade opens the WebSocket of a polling session: the probe, which
// becomes its transport once the client sends the upgrade packet. A
// session may have one WebSocket: another one, or one for a session that
// ended meanwhile, is upgraded and closed at once, as the reference does.
func (s *Session) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	ws, err := s.srv.up.Upgrade(w, r)
	if err != nil {
		return
	}
	s.mu.Lock()
	extra := s.ended || s.ws != nil
	if !extra {
		s.ws = ws // not yet used for sending: the client still polls until "5"
		ws.Session().(*wsSession).s = s
		if s.probeEnd != nil {
			s.probeEnd.Stop()
		}
		s.probeEnd = time.AfterFunc(s.srv.cfg.HandshakeTimeout, func() { s.abortProbe(ws) })
	}
	s.mu.Unlock()
	go ws.ReadLoop()
	if extra {
		ws.Async(func() { wsconn.Close(ws, 1008, "the session has a WebSocket already", false) })
	}
}

// abortProbe closes a probe WebSocket that did not complete the upgrade:
// the session goes on polling.
func (s *Session) abortProbe(ws *gws.Conn) {
	s.mu.Lock()
	mine := s.ws == ws && !s.upgraded
	if mine {
		s.ws, s.probing = nil, false
	}
	s.mu.Unlock()
	if mine {
		ws.Async(func() { wsconn.Close(ws, 1008, "upgrade not completed", false) })
	}
}

// receive handles one client packet, in order: via is the WebSocket that
// brought it, nil for a polling request. It reports false when the packet
// broke the protocol (a packet type that does not exist, a ping from the
// client, bad base64, an empty packet), which ends the session as the
// reference server does.
func (s *Session) receive(p []byte, binary bool, via *gws.Conn) (ok bool) {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	// The handler recovers its own panics; this guards the session, so that
	// no packet can take the process down.
	defer func() {
		if r := recover(); r != nil {
			s.srv.cfg.Logger.Error("realtime: panic while reading an Engine.IO packet; closing the session",
				"sid", s.id, "panic", fmt.Sprint(r))
			s.end(link.Closed{Code: 1011, Reason: "internal error", ByServer: true}, false)
			ok = false
		}
	}()
	s.mu.Lock()
	ended, current, upgraded, why := s.ended, s.ws, s.upgraded, s.why
	s.mu.Unlock()
	switch {
	case ended && via != nil && via == current && !upgraded:
		// A packet on the probe of a session that ended during the upgrade:
		// the client may have moved to the WebSocket already (this is its
		// upgrade packet) and stopped polling for the close packet that
		// waits there. Close the WebSocket with the session's close, so the
		// client learns of the end now rather than by its ping timeout.
		s.mu.Lock()
		mine := s.ws == via
		if mine {
			s.ws = nil
		}
		s.mu.Unlock()
		if mine {
			via.Async(func() { wsconn.Close(via, why.Code, why.Reason, false) })
		}
		return true
	case ended || (via != nil && via != current):
		return true // a late packet of a session or probe that ended
	case via != nil && !upgraded:
		s.probe(p, binary, via)
		return true
	}
	if !binary && len(p) > 0 && p[0] == 'b' {
		raw, err := base64.StdEncoding.DecodeString(string(p[1:]))
		if err != nil {
			return s.violation("bad base64 in a binary packet")
		}
		p, binary = raw, true
	}
	if binary {
		s.srv.h.Message(s, p, true)
		return true
	}
	if len(p) == 0 {
		return s.violation("an empty packet")
	}
	switch p[0] {
	case typePong:
		s.hb.Seen()
	case typeOpen, typeUpgrade, typeNoop:
		// Meaningless here; the reference ignores them too.
	case typePing:
		return s.violation("a ping from the client (Engine.IO v4 pings from the server)")
	case typeClose:
		s.end(link.Closed{Code: 1000, Reason: "client closed"}, false)
	case typeMessage:
		s.srv.h.Message(s, p[1:], false)
	default:
		return s.violation("an unknown packet type")
	}
	return true
}

// probe handles a packet on the WebSocket of an upgrade not completed: the
// probe ping, answered, then the upgrade packet, which moves the session
// to the WebSocket. Anything else closes the probe; the session goes on
// polling.
func (s *Session) probe(p []byte, binary bool, ws *gws.Conn) {
	switch {
	case !binary && string(p) == "2probe":
		s.mu.Lock()
		s.probing = true
		s.mu.Unlock()
		ws.Async(func() {
			_ = ws.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
			_ = ws.WriteString("3probe")
		})
		// The waiting long-poll returns a noop so the client can finish
		// the upgrade.
		s.wakePoll()
	case !binary && string(p) == string(typeUpgrade):
		s.mu.Lock()
		s.upgraded = true
		if s.probeEnd != nil {
			s.probeEnd.Stop()
		}
		s.mu.Unlock()
		// A long-poll still waiting returns a noop; what is queued goes out
		// on the WebSocket from now on.
		s.wakePoll()
		ws.Async(s.flushWS)
	default:
		s.abortProbe(ws)
	}
}

// violation ends the session for a packet that breaks the protocol.
func (s *Session) violation(what string) bool {
	s.srv.cfg.Logger.Warn("realtime: Engine.IO protocol violation; closing the session", "sid", s.id, "problem", what)
	s.end(link.Closed{Code: 1008, Reason: "malformed packet", ByServer: true}, false)
	return false
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
	s.receive(bytes.Clone(msg.Bytes()), msg.Opcode == gws.OpcodeBinary, ws)
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
