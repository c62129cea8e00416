package realtime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lxzan/gws"

	"github.com/lolyjs/realtime/internal/sendq"
	"github.com/lolyjs/realtime/internal/wsconn"
)

// Engine.IO v4 packet types.
const (
	eioOpen    byte = '0'
	eioClose   byte = '1'
	eioPing    byte = '2'
	eioPong    byte = '3'
	eioMessage byte = '4'
	eioUpgrade byte = '5'
	eioNoop    byte = '6'
)

// eioSeparator separates the packets of one HTTP long-polling payload.
const eioSeparator = '\x1e'

// eioPacket is one Engine.IO packet waiting to be sent: text (type byte
// first) or a binary message.
type eioPacket = sendq.Packet

// eioSession is one Engine.IO connection: HTTP long-polling, WebSocket, or
// polling upgraded to WebSocket. It carries Socket.IO, one socket per
// namespace the client connects to, and is the link of those sockets.
//
// Client packets are handled one at a time, in order (procMu), whichever
// transport brings them. Outgoing packets wait in one byte-bounded queue
// (internal/sendq); a long-poll takes them all at once, a WebSocket writes
// them one frame each.
type eioSession struct {
	srv *server
	sid string
	req *http.Request
	ip  string

	lastSeen atomic.Int64
	timer    *time.Timer
	ackSeq   atomic.Int64

	procMu  sync.Mutex // serializes handling of client packets
	pending *sioPacket // a binary packet waiting for its attachments
	atts    [][]byte

	q *sendq.Queue

	mu       sync.Mutex
	sockets  map[string]*Socket
	wake     chan struct{} // signals a waiting long-poll
	polling  bool          // a long-poll GET is waiting
	ws       *gws.Conn     // set once the WebSocket transport is in use
	upgraded bool
	probing  bool // a WebSocket probe succeeded: long-polls return at once
	closed   bool
	holdFor  *Socket // the socket whose connect is running
	held     []eioPacket
	requests map[int64]chan json.RawMessage
	done     chan struct{}
}

// newSession registers a session for a handshake request.
func (s *server) newSession(r *http.Request, ip string) *eioSession {
	sess := &eioSession{
		srv: s, sid: uuid.NewString(), req: r, ip: ip,
		sockets: make(map[string]*Socket), wake: make(chan struct{}, 1),
		requests: make(map[int64]chan json.RawMessage), done: make(chan struct{}),
	}
	sess.q = sendq.New(sendq.Config{
		Limit: s.cfg.SendQueueBytes,
		Start: sess.kick,
		// A client that lets its queue overflow is evicted; the eviction runs
		// on a goroutine of its own, never under the delivering code's locks.
		Overflow: func() { sess.shut(&CloseError{Code: CloseTryAgainLater, Reason: "slow consumer"}) },
	})
	sess.touch()
	s.connMu.Lock()
	if s.closing.Load() {
		s.connMu.Unlock()
		return nil
	}
	s.connWG.Add(1)
	s.connMu.Unlock()
	s.eioMu.Lock()
	if s.eio == nil {
		s.eio = make(map[string]*eioSession)
	}
	s.eio[sess.sid] = sess
	s.eioMu.Unlock()
	sess.timer = time.AfterFunc(s.cfg.PingInterval, sess.beat)
	return sess
}

func (s *server) session(sid string) *eioSession {
	s.eioMu.Lock()
	defer s.eioMu.Unlock()
	return s.eio[sid]
}

func (e *eioSession) touch() { e.lastSeen.Store(time.Now().UnixNano()) }

// wakePoll wakes a waiting long-poll.
func (e *eioSession) wakePoll() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eioSession) openPacket(upgrades []string) []byte {
	b, _ := json.Marshal(map[string]any{
		"sid":          e.sid,
		"upgrades":     upgrades,
		"pingInterval": e.srv.cfg.PingInterval.Milliseconds(),
		"pingTimeout":  e.srv.cfg.PingTimeout.Milliseconds(),
		"maxPayload":   e.srv.cfg.MaxPayloadBytes,
	})
	return append([]byte{eioOpen}, b...)
}

// beat pings the client every PingInterval and closes the session when no
// packet came back within PingInterval + PingTimeout.
func (e *eioSession) beat() {
	idle := e.srv.cfg.PingInterval + e.srv.cfg.PingTimeout
	if time.Since(time.Unix(0, e.lastSeen.Load())) > idle {
		e.shut(&CloseError{Code: CloseGoingAway, Reason: "ping timeout"})
		return
	}
	e.enqueue(nil, eioPacket{Data: []byte{eioPing}})
	e.mu.Lock()
	if !e.closed {
		e.timer.Reset(e.srv.cfg.PingInterval)
	}
	e.mu.Unlock()
}

// enqueue queues packets for the client. Packets for a socket whose connect
// is running are held until it is accepted. A client that lets too much
// wait is evicted (see sendq.Config.Overflow).
func (e *eioSession) enqueue(s *Socket, pkts ...eioPacket) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	if s != nil && s == e.holdFor {
		e.held = append(e.held, pkts...)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	for _, p := range pkts {
		if !e.q.Push(p) {
			return
		}
	}
}

// kick starts the writer of the transport in use: a WebSocket write job, or
// the waiting long-poll. It must not block: it runs under the locks of the
// code that queues.
func (e *eioSession) kick() {
	e.mu.Lock()
	ws, upgraded := e.ws, e.upgraded
	e.mu.Unlock()
	if upgraded && ws != nil {
		ws.Async(e.flushWS)
		return
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// flushWS writes the queue on the WebSocket, one frame per packet, then
// closes the connection when the queue was closed.
func (e *eioSession) flushWS() {
	e.mu.Lock()
	ws := e.ws
	e.mu.Unlock()
	for {
		batch, cl := e.q.Take()
		if batch == nil {
			if cl != nil {
				wsconn.Close(ws, cl.Code, cl.Reason, cl.Abrupt)
			}
			return
		}
		_ = ws.SetWriteDeadline(time.Now().Add(e.srv.cfg.WriteTimeout))
		var err error
		for _, p := range batch {
			op := gws.OpcodeText
			if p.Binary {
				op = gws.OpcodeBinary
			}
			if err = ws.WriteMessage(op, p.Data); err != nil {
				break
			}
		}
		e.q.Done(batch)
		if err != nil {
			return
		}
	}
}

// textPacket builds an Engine.IO text packet of type typ.
func textPacket(typ byte, payload []byte) eioPacket {
	b := make([]byte, 0, 1+len(payload))
	b = append(b, typ)
	return eioPacket{Data: append(b, payload...)}
}

// sioPackets wraps a Socket.IO packet and its attachments as Engine.IO
// messages.
func sioPackets(m *sioMessage) []eioPacket {
	pkts := make([]eioPacket, 0, 1+len(m.attachments))
	pkts = append(pkts, textPacket(eioMessage, m.packet))
	for _, a := range m.attachments {
		pkts = append(pkts, eioPacket{Binary: true, Data: a})
	}
	return pkts
}

// The Socket.IO link.

func (e *eioSession) emit(s *Socket, m *message) {
	e.enqueue(s, sioPackets(m.sioEncoding(s.ns.name))...)
}

func (e *eioSession) ack(s *Socket, id int64, data []byte, isErr bool) {
	if isErr {
		// An error reaches the ack callback as its one argument:
		// {"error": {code, message, ...}}.
		wrapped := make([]byte, 0, len(data)+10)
		wrapped = append(wrapped, `{"error":`...)
		wrapped = append(append(wrapped, data...), '}')
		data = wrapped
	}
	e.enqueue(s, sioPackets(encodeSIOAck(s.ns.name, id-1, data))...)
}

func (e *eioSession) accept(s *Socket) {
	b := appendSIOHeader(nil, sioConnect, 0, s.ns.name, -1)
	b = append(b, `{"sid":`...)
	b = appendJSONString(b, s.id)
	b = append(b, '}')
	e.enqueue(s, textPacket(eioMessage, b))
}

// refuse drops what the connect queued and answers CONNECT_ERROR, whose
// data is the error object; the connection stays for other namespaces.
func (e *eioSession) refuse(ctx *Ctx, err *Error) {
	s := ctx.socket
	e.mu.Lock()
	e.holdFor, e.held = nil, nil
	if e.sockets[s.ns.name] == s {
		delete(e.sockets, s.ns.name)
	}
	e.mu.Unlock()
	err.RequestID = ctx.requestID
	body, _ := json.Marshal(map[string]any{"message": err.Message, "data": err})
	b := appendSIOHeader(nil, sioConnectError, 0, s.ns.name, -1)
	e.enqueue(nil, textPacket(eioMessage, append(b, body...)))
	s.cancel()
}

// close disconnects one socket from its namespace (Socket.Close).
func (e *eioSession) close(s *Socket, code uint16, reason string) {
	e.mu.Lock()
	own := e.sockets[s.ns.name] == s
	if own {
		delete(e.sockets, s.ns.name)
	}
	e.mu.Unlock()
	if !own {
		return
	}
	e.enqueue(nil, textPacket(eioMessage, appendSIOHeader(nil, sioDisconnect, 0, s.ns.name, -1)))
	go s.disconnect(&CloseError{Code: code, Reason: reason})
}

func (e *eioSession) remoteIP() string { return e.ip }

// ErrNoClientAcks is returned by Socket.EmitWithAck on a socket whose protocol
// cannot ask the client for an acknowledgement (the native protocol).
var ErrNoClientAcks = errors.New("realtime: this socket's protocol has no server-to-client acknowledgements")

// request sends an event that asks the client for an ack and waits for it.
func (e *eioSession) request(ctx context.Context, s *Socket, event string, data []byte) (json.RawMessage, error) {
	id := e.ackSeq.Add(1)
	ch := make(chan json.RawMessage, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errSocketGone
	}
	e.requests[id] = ch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.requests, id)
		e.mu.Unlock()
	}()
	e.enqueue(s, sioPackets(encodeSIOEvent(s.ns.name, id, event, data))...)
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.done:
		return nil, errSocketGone
	}
}

// shut ends the whole session with a reason: its sockets leave their
// namespaces, and the client gets what was queued, then the close.
func (e *eioSession) shut(reason *CloseError) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	sockets := e.sockets
	e.sockets = map[string]*Socket{}
	ws := e.ws
	e.timer.Stop()
	close(e.done)
	e.mu.Unlock()
	e.srv.eioMu.Lock()
	delete(e.srv.eio, e.sid)
	e.srv.eioMu.Unlock()
	for _, s := range sockets {
		s.disconnect(reason)
	}
	e.q.CloseAfterDrain(sendq.Close{Code: reason.Code, Reason: reason.Reason})
	if ws != nil {
		// A write stuck on a client that stopped reading gives up within
		// the grace, so the session is freed.
		_ = ws.NetConn().SetWriteDeadline(time.Now().Add(wsconn.CloseGrace))
	}
	e.srv.releaseIP(e.ip)
	e.srv.connWG.Done()
}

// serveEIO answers the Engine.IO requests of a Socket.IO client: the
// handshake, long-polls, posted packets, and WebSocket connections (new, or
// upgrading a polling session).
func (s *server) serveEIO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		eioError(w, 5, "Unsupported protocol version")
		return
	}
	if !s.originAllowed(r) {
		http.Error(w, "realtime: origin not allowed", http.StatusForbidden)
		return
	}
	s.cors(w, r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	transport, sid := q.Get("transport"), q.Get("sid")
	switch {
	case transport != "polling" && transport != "websocket":
		eioError(w, 0, "Transport unknown")
	case sid == "":
		s.eioHandshake(w, r, transport)
	case transport == "websocket":
		sess := s.session(sid)
		if sess == nil {
			eioError(w, 1, "Session ID unknown")
			return
		}
		sess.serveUpgrade(w, r)
	default:
		sess := s.session(sid)
		if sess == nil {
			eioError(w, 1, "Session ID unknown")
			return
		}
		switch r.Method {
		case http.MethodGet:
			sess.servePoll(w, r)
		case http.MethodPost:
			sess.servePost(w, r)
		default:
			eioError(w, 2, "Bad handshake method")
		}
	}
}

// cors lets browsers on allowed origins use long-polling with credentials.
func (s *server) cors(w http.ResponseWriter, r *http.Request) {
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

func eioError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"code":%d,"message":%q}`, code, message)
}

// eioHandshake opens a session: over polling it answers the open packet;
// over WebSocket it upgrades and sends it as the first frame.
func (s *server) eioHandshake(w http.ResponseWriter, r *http.Request, transport string) {
	if r.Method != http.MethodGet {
		eioError(w, 2, "Bad handshake method")
		return
	}
	ip := s.cfg.ClientIP(r)
	if !s.acquireIP(ip) {
		http.Error(w, "realtime: too many connections from this address", http.StatusTooManyRequests)
		return
	}
	if transport == "polling" {
		sess := s.newSession(r, ip)
		if sess == nil {
			s.releaseIP(ip)
			http.Error(w, "realtime: server shutting down", http.StatusServiceUnavailable)
			return
		}
		writePayload(w, []eioPacket{{Data: sess.openPacket([]string{"websocket"})}})
		return
	}
	ws, err := s.eioUpgrader.Upgrade(w, r)
	if err != nil {
		s.releaseIP(ip)
		return
	}
	sess := s.newSession(r, ip)
	if sess == nil {
		_ = ws.WriteClose(CloseGoingAway, []byte("server shutting down"))
		s.releaseIP(ip)
		return
	}
	link := ws.Session().(*eioWS)
	link.sess = sess
	sess.mu.Lock()
	sess.ws, sess.upgraded = ws, true
	sess.mu.Unlock()
	sess.q.Push(eioPacket{Data: sess.openPacket([]string{})})
	go ws.ReadLoop()
}

// writePayload answers a long-poll with packets separated by 0x1e; binary
// packets are "b" and base64.
func writePayload(w http.ResponseWriter, pkts []eioPacket) {
	var buf bytes.Buffer
	for i, p := range pkts {
		if i > 0 {
			buf.WriteByte(eioSeparator)
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
func (e *eioSession) servePoll(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if e.polling || e.upgraded {
		e.mu.Unlock()
		eioError(w, 3, "Bad request")
		if !e.upgraded {
			e.shut(&CloseError{Code: ClosePolicy, Reason: "overlapping polls"})
		}
		return
	}
	e.polling = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.polling = false
		e.mu.Unlock()
	}()
	e.touch()
	timeout := time.NewTimer(e.srv.cfg.PingInterval + e.srv.cfg.PingTimeout)
	defer timeout.Stop()
	for {
		e.mu.Lock()
		upgraded, probing := e.upgraded, e.probing
		e.mu.Unlock()
		if upgraded || probing {
			// Upgraded, or moving to the WebSocket: the client waits for
			// this poll to end before it sends the upgrade.
			writePayload(w, []eioPacket{{Data: []byte{eioNoop}}})
			return
		}
		batch, cl := e.q.Take()
		switch {
		case batch != nil:
			writePayload(w, batch)
			e.q.Done(batch)
			return
		case cl != nil || e.q.Closing():
			writePayload(w, []eioPacket{{Data: []byte{eioClose}}})
			return
		}
		select {
		case <-e.wake:
		case <-e.done:
		case <-r.Context().Done():
			return
		case <-timeout.C:
			writePayload(w, []eioPacket{{Data: []byte{eioNoop}}})
			return
		}
	}
}

// servePost takes the packets a polling client sends.
func (e *eioSession) servePost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(e.srv.cfg.MaxPayloadBytes)+1))
	if err != nil || len(body) > e.srv.cfg.MaxPayloadBytes {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		e.shut(&CloseError{Code: CloseTooBig, Reason: "payload too large"})
		return
	}
	e.touch()
	for _, pkt := range bytes.Split(body, []byte{eioSeparator}) {
		if len(pkt) > 0 && pkt[0] == 'b' {
			raw, err := base64.StdEncoding.DecodeString(string(pkt[1:]))
			if err != nil {
				continue
			}
			e.receive(eioPacket{Binary: true, Data: raw})
			continue
		}
		e.receive(eioPacket{Data: pkt})
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// serveUpgrade takes a polling session to WebSocket: probe, then upgrade.
func (e *eioSession) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	bad := e.closed || e.ws != nil
	e.mu.Unlock()
	if bad {
		eioError(w, 3, "Bad request")
		return
	}
	ws, err := e.srv.eioUpgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	ws.Session().(*eioWS).sess = e
	e.mu.Lock()
	if e.closed || e.ws != nil {
		e.mu.Unlock()
		_ = ws.WriteClose(CloseNormal, nil)
		return
	}
	e.ws = ws // not yet used for sending: the client still polls until "5"
	e.mu.Unlock()
	go ws.ReadLoop()
}

// receive handles one client packet, in order.
func (e *eioSession) receive(p eioPacket) {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	// Handlers recover their own panics; this guards the codec, so that no
	// packet can take the process down.
	defer func() {
		if r := recover(); r != nil {
			e.srv.cfg.Logger.Error("realtime: panic while reading a Socket.IO packet; closing the session",
				"sid", e.sid, "panic", fmt.Sprint(r))
			go e.shut(&CloseError{Code: CloseInternal, Reason: "internal error"})
		}
	}()
	if p.Binary {
		e.attachment(p.Data)
		return
	}
	if len(p.Data) == 0 {
		return
	}
	switch p.Data[0] {
	case eioPong, eioNoop:
	case eioPing:
		if string(p.Data[1:]) == "probe" {
			e.mu.Lock()
			ws := e.ws
			e.mu.Unlock()
			if ws != nil {
				ws.Async(func() { _ = ws.WriteString("3probe") })
			}
			// The waiting long-poll returns a noop so the client can
			// finish the upgrade.
			e.mu.Lock()
			e.probing = true
			e.mu.Unlock()
			e.wakePoll()
		}
	case eioUpgrade:
		e.mu.Lock()
		ws := e.ws
		upgrade := ws != nil && !e.upgraded
		e.upgraded = e.upgraded || upgrade
		e.mu.Unlock()
		if upgrade {
			// A long-poll still waiting returns a noop; what is queued goes
			// out on the WebSocket from now on.
			e.wakePoll()
			ws.Async(e.flushWS)
		}
	case eioClose:
		go e.shut(&CloseError{Code: CloseNormal, Reason: "client closed"})
	case eioMessage:
		pkt, err := parseSIO(p.Data[1:])
		if err != nil {
			e.srv.cfg.Logger.Warn("realtime: malformed Socket.IO packet; closing the session", "sid", e.sid)
			go e.shut(&CloseError{Code: ClosePolicy, Reason: "malformed packet"})
			return
		}
		if pkt.attachments > 0 {
			e.pending, e.atts = &pkt, nil
			return
		}
		e.packet(pkt)
	}
}

// attachment collects a binary attachment of the pending packet.
func (e *eioSession) attachment(b []byte) {
	if e.pending == nil {
		return
	}
	e.atts = append(e.atts, bytes.Clone(b))
	if len(e.atts) < e.pending.attachments {
		return
	}
	pkt := *e.pending
	data, err := insertAttachments(pkt.data, e.atts)
	e.pending, e.atts = nil, nil
	if err != nil {
		go e.shut(&CloseError{Code: ClosePolicy, Reason: "malformed packet"})
		return
	}
	pkt.data = data
	pkt.typ -= 3 // BINARY_EVENT to EVENT, BINARY_ACK to ACK
	e.packet(pkt)
}

// packet handles one complete Socket.IO packet.
func (e *eioSession) packet(p sioPacket) {
	e.mu.Lock()
	sock := e.sockets[p.ns]
	e.mu.Unlock()
	switch p.typ {
	case sioConnect:
		if sock != nil {
			return
		}
		e.connect(p)
	case sioDisconnect:
		if sock != nil {
			e.mu.Lock()
			delete(e.sockets, p.ns)
			e.mu.Unlock()
			sock.disconnect(&CloseError{Code: CloseNormal, Reason: "client namespace disconnect"})
		}
	case sioEvent:
		if sock == nil {
			return
		}
		env, derr := sioEventArgs(p)
		sock.handle(env, derr)
	case sioAck:
		e.mu.Lock()
		ch := e.requests[p.id]
		e.mu.Unlock()
		if ch != nil {
			select {
			case ch <- sioAckArgs(p.data):
			default:
			}
		}
	}
}

// connect joins the client to a namespace through the connect chain, with
// the CONNECT packet's auth payload as the Ctx data.
func (e *eioSession) connect(p sioPacket) {
	ns := e.srv.namespaces[p.ns]
	if ns == nil {
		b := appendSIOHeader(nil, sioConnectError, 0, p.ns, -1)
		e.enqueue(nil, textPacket(eioMessage, append(b, `{"message":"Invalid namespace"}`...)))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sock := &Socket{id: uuid.NewString(), ns: ns, link: e, req: e.req, ctx: ctx, cancel: cancel}
	var auth json.RawMessage
	if len(p.data) > 0 && string(p.data) != "null" {
		auth = bytes.Clone(p.data)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		cancel()
		return
	}
	e.sockets[p.ns] = sock
	e.holdFor, e.held = sock, nil
	e.mu.Unlock()
	if err := sock.connect(auth); err != nil {
		return
	}
	e.mu.Lock()
	held := e.held
	e.holdFor, e.held = nil, nil
	e.mu.Unlock()
	e.enqueue(nil, held...)
}

// eioWS is the gws session storage of an Engine.IO WebSocket; it leads the
// callbacks to the session.
type eioWS struct {
	sess *eioSession
}

func (w *eioWS) Len() int                     { return 0 }
func (w *eioWS) Load(string) (any, bool)      { return nil, false }
func (w *eioWS) Delete(string)                {}
func (w *eioWS) Store(string, any)            {}
func (w *eioWS) Range(func(string, any) bool) {}

// eioEvents are the gws callbacks of Engine.IO WebSockets.
type eioEvents struct{}

func (eioEvents) OnOpen(*gws.Conn) {}

func (eioEvents) OnPing(ws *gws.Conn, _ []byte) { _ = ws.WritePong(nil) }

func (eioEvents) OnPong(ws *gws.Conn, _ []byte) {
	if sess := ws.Session().(*eioWS).sess; sess != nil {
		sess.touch()
	}
}

func (eioEvents) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	sess := ws.Session().(*eioWS).sess
	if sess == nil {
		return
	}
	sess.touch()
	sess.receive(eioPacket{Binary: msg.Opcode == gws.OpcodeBinary, Data: bytes.Clone(msg.Bytes())})
}

// OnClose ends the session when its WebSocket closes, unless the socket was
// only a probe that never completed the upgrade.
func (eioEvents) OnClose(ws *gws.Conn, err error) {
	sess := ws.Session().(*eioWS).sess
	if sess == nil {
		return
	}
	sess.mu.Lock()
	mine := sess.ws == ws
	upgraded := sess.upgraded
	if mine && !upgraded {
		// The upgrade failed: the session goes on polling, and polls wait
		// again.
		sess.ws, sess.probing = nil, false
	}
	sess.mu.Unlock()
	if mine && upgraded {
		sess.shut(&CloseError{Code: CloseNormal, Reason: "transport closed"})
	}
}
