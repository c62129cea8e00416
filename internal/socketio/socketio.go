// Package socketio is the Socket.IO v5 layer over internal/engineio: the
// packet codec, with binary attachments, and the namespaces one Engine.IO
// session carries, each a Socket that is the link.Conn of one of the core's
// sockets. It knows nothing of the realtime core beyond internal/link and
// internal/wire.
package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lolyjs/realtime/internal/engineio"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/wire"
)

// codec names the Socket.IO encoding of a link.Message, keyed by namespace.
var codec = &link.Codec{Name: "socket.io/5"}

// Handler is the core's side: it serves a namespace's connects.
type Handler interface {
	// Connect joins a client to namespace ns with its auth payload (nil
	// without one): the core makes its socket, with s as its link.Conn,
	// runs the connect, which ends with s.Accept or s.Refuse, and returns
	// the peer that gets the namespace's events. It returns nil when the
	// namespace does not exist.
	Connect(s *Socket, ns string, auth []byte) Peer
}

// Peer is the core's side of one namespace of a session.
type Peer interface {
	// Event handles one event, or the refusal problem of one that could
	// not be decoded, in arrival order.
	Event(env wire.Envelope, problem string)
	// Closed runs once, when the socket has ended.
	Closed(why link.Closed)
}

// Config configures a Server.
type Config struct {
	Logger *slog.Logger
	// ConnectTimeout closes a session that has joined no namespace this
	// long after it opened (none: no limit).
	ConnectTimeout time.Duration
}

// Server is the Socket.IO layer: the engineio.Handler of the sessions.
type Server struct {
	h   Handler
	cfg Config
}

// NewServer returns a Socket.IO layer serving h.
func NewServer(h Handler, cfg Config) *Server {
	return &Server{h: h, cfg: cfg}
}

// conn is the Socket.IO state of one session.
type conn struct {
	srv  *Server
	sess *engineio.Session

	// Touched by packet handling only, which is serialized.
	pending *Packet // a binary packet waiting for its attachments
	atts    [][]byte

	connectTimer *time.Timer
	ackSeq       atomic.Int64

	mu      sync.Mutex
	joined  bool // a namespace accepted the client
	sockets map[string]*Socket
	// left holds the namespaces the client was in, or was refused by: a
	// packet it sent before it learnt so is dropped, not taken as a
	// protocol violation. Only existing namespaces get here.
	left     map[string]bool
	requests map[int64]chan json.RawMessage
}

// Open starts the Socket.IO state of a session, and the time it has to
// join a namespace.
func (srv *Server) Open(s *engineio.Session) {
	c := &conn{srv: srv, sess: s, sockets: make(map[string]*Socket), requests: make(map[int64]chan json.RawMessage)}
	s.Peer = c
	if d := srv.cfg.ConnectTimeout; d > 0 {
		c.mu.Lock()
		c.connectTimer = time.AfterFunc(d, c.connectTimeout)
		c.mu.Unlock()
	}
}

// connectTimeout closes the session when no namespace accepted it in time.
func (c *conn) connectTimeout() {
	c.mu.Lock()
	joined := c.joined
	c.mu.Unlock()
	if !joined {
		c.sess.Close(1008, "connect timeout")
	}
}

// Closed ends every socket of the session.
func (srv *Server) Closed(s *engineio.Session, why link.Closed) {
	c := s.Peer.(*conn)
	c.mu.Lock()
	if c.connectTimer != nil {
		c.connectTimer.Stop()
	}
	sockets := c.sockets
	c.sockets = map[string]*Socket{}
	c.mu.Unlock()
	for _, sock := range sockets {
		if peer := sock.getPeer(); peer != nil {
			peer.Closed(why)
		}
	}
}

// Message handles one Engine.IO message: a Socket.IO packet, or an
// attachment of the pending binary packet. What the protocol forbids
// closes the session, as the reference server does: a packet that does not
// parse, an attachment nobody announced, a packet while attachments are
// due.
func (srv *Server) Message(s *engineio.Session, data []byte, binary bool) {
	c := s.Peer.(*conn)
	if binary {
		c.attachment(data)
		return
	}
	if c.pending != nil {
		c.fail("a text packet while binary attachments were due")
		return
	}
	p, err := Parse(data)
	if err != nil {
		c.fail("malformed packet")
		return
	}
	if p.Type == typeBinaryEvent || p.Type == typeBinaryAck {
		if p.Attachments > 0 {
			c.pending, c.atts = &p, nil
			return
		}
		p.Type -= 3 // binary in name only
	}
	c.packet(p)
}

// fail closes the session for a protocol violation, after what is queued.
func (c *conn) fail(why string) {
	c.srv.cfg.Logger.Warn("realtime: Socket.IO protocol violation; closing the session", "sid", c.sess.ID(), "problem", why)
	c.pending, c.atts = nil, nil
	c.sess.Close(1008, "malformed packet")
}

// attachment collects a binary attachment of the pending packet.
func (c *conn) attachment(b []byte) {
	if c.pending == nil {
		c.fail("a binary attachment no packet announced")
		return
	}
	c.atts = append(c.atts, b)
	if len(c.atts) < c.pending.Attachments {
		return
	}
	p := *c.pending
	data, err := insertAttachments(p.Data, c.atts)
	c.pending, c.atts = nil, nil
	if err != nil {
		c.fail("a placeholder naming no attachment")
		return
	}
	p.Data = data
	p.Type -= 3 // BINARY_EVENT to EVENT, BINARY_ACK to ACK
	c.packet(p)
}

// packet handles one complete Socket.IO packet.
func (c *conn) packet(p Packet) {
	c.mu.Lock()
	sock, left := c.sockets[p.NS], c.left[p.NS]
	c.mu.Unlock()
	switch {
	case p.Type == typeConnect:
		if sock != nil {
			c.fail("CONNECT to a namespace already joined")
			return
		}
		c.connect(p)
	case p.Type == typeConnectError:
		c.fail("CONNECT_ERROR from the client")
	case sock == nil:
		if !left {
			c.fail("a packet for a namespace not joined")
		}
		// Else the client sent it before it learnt that it left: dropped.
	case p.Type == typeDisconnect:
		if c.remove(sock) && sock.peer != nil {
			sock.peer.Closed(link.Closed{Code: 1000, Reason: "client namespace disconnect"})
		}
	case p.Type == typeEvent:
		if sock.peer != nil {
			sock.peer.Event(EventArgs(p))
		}
	case p.Type == typeAck:
		c.mu.Lock()
		ch := c.requests[p.ID]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- AckArgs(p.Data):
			default:
			}
		}
	}
}

// connect joins the client to a namespace through the core, with the
// CONNECT packet's auth payload.
func (c *conn) connect(p Packet) {
	var auth []byte
	if len(p.Data) > 0 {
		auth = bytes.Clone(p.Data)
	}
	sock := &Socket{c: c, ns: p.NS}
	c.mu.Lock()
	c.sockets[p.NS] = sock
	c.mu.Unlock()
	peer := c.srv.h.Connect(sock, p.NS, auth)
	if peer == nil {
		c.mu.Lock()
		delete(c.sockets, p.NS) // no such namespace: nothing to remember
		c.mu.Unlock()
		b := AppendHeader([]byte{'4'}, typeConnectError, 0, p.NS, -1)
		c.sess.Send(append(b, `{"message":"Invalid namespace"}`...), false)
		return
	}
	c.mu.Lock()
	sock.peer = peer
	early := sock.closedEarly
	c.mu.Unlock()
	if early != nil {
		peer.Closed(*early)
	}
}

// remove takes a socket out of the session, reporting whether it was in.
func (c *conn) remove(sock *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sockets[sock.ns] != sock {
		return false
	}
	delete(c.sockets, sock.ns)
	if c.left == nil {
		c.left = make(map[string]bool)
	}
	c.left[sock.ns] = true
	return true
}

// Socket is one namespace of a session: the link.Conn of a core socket.
type Socket struct {
	c  *conn
	ns string
	// peer is set, under c.mu, once the core's Connect returned; a Close
	// before then is kept in closedEarly and reported to the peer then.
	peer        Peer
	closedEarly *link.Closed
}

func (s *Socket) getPeer() Peer {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.peer
}

// Session returns the Engine.IO session the socket travels on.
func (s *Socket) Session() *engineio.Session { return s.c.sess }

func (s *Socket) send(frame []byte, atts [][]byte) {
	if !s.c.sess.Send(frame, false) {
		return
	}
	for _, a := range atts {
		if !s.c.sess.Send(a, true) {
			return
		}
	}
}

// Deliver queues the message as an EVENT of the socket's namespace.
func (s *Socket) Deliver(m *link.Message) {
	s.send(m.Encoded(codec, s.ns, func() ([]byte, [][]byte) {
		if m.Pos != "" {
			// The offset travels as the event's last argument, where
			// socket.io-client's connection state recovery reads it.
			return encodeMessage(EncodeEventArgs(s.ns, -1, m.Event, m.Data, m.Spread, m.Pos))
		}
		return encodeMessage(EncodeEvent(s.ns, -1, m.Event, m.Data, m.Spread))
	}))
}

// encodeMessage prefixes a Socket.IO packet with its Engine.IO message type.
func encodeMessage(pkt []byte, atts [][]byte) ([]byte, [][]byte) {
	b := make([]byte, 0, 1+len(pkt))
	return append(append(b, '4'), pkt...), atts
}

// Ack answers the client's ack id (the envelope id minus one). An error
// reaches the ack callback as its one argument: {"error": {...}}.
func (s *Socket) Ack(id int64, data []byte, kind link.AckKind) {
	if kind == link.AckError {
		wrapped := make([]byte, 0, len(data)+10)
		wrapped = append(wrapped, `{"error":`...)
		wrapped = append(append(wrapped, data...), '}')
		data = wrapped
	}
	s.send(encodeMessage(EncodeAck(s.ns, id-1, data, kind == link.AckArgs)))
}

// Accept answers the CONNECT with the socket's id and, in a namespace with
// history, its session as the private id ("pid") that socket.io-client's
// connection state recovery hands back on reconnection: the same pid means
// recovered. The session has joined a namespace, so its connect timeout is
// over.
func (s *Socket) Accept(a link.Accepted) {
	c := s.c
	c.mu.Lock()
	c.joined = true
	if c.connectTimer != nil {
		c.connectTimer.Stop()
	}
	c.mu.Unlock()
	b := AppendHeader([]byte{'4'}, typeConnect, 0, s.ns, -1)
	b = append(b, `{"sid":`...)
	b = wire.AppendString(b, a.SocketID)
	if a.Session != "" {
		b = append(b, `,"pid":`...)
		b = wire.AppendString(b, a.Session)
	}
	s.c.sess.Send(append(b, '}'), false)
}

// Refuse answers the CONNECT with CONNECT_ERROR, whose data is the error
// object; the session stays for its other namespaces.
func (s *Socket) Refuse(message string, errJSON []byte, _ uint16) {
	s.c.remove(s)
	b := AppendHeader([]byte{'4'}, typeConnectError, 0, s.ns, -1)
	b = append(b, `{"message":`...)
	b = wire.AppendString(b, message)
	if errJSON != nil {
		b = append(b, `,"data":`...)
		b = append(b, errJSON...)
	}
	s.c.sess.Send(append(b, '}'), false)
}

// Close disconnects the socket from its namespace; the session stays.
func (s *Socket) Close(code uint16, reason string) {
	if !s.c.remove(s) {
		return
	}
	s.c.sess.Send(AppendHeader([]byte{'4'}, typeDisconnect, 0, s.ns, -1), false)
	why := link.Closed{Code: code, Reason: reason, ByServer: true}
	s.c.mu.Lock()
	peer := s.peer
	if peer == nil {
		s.closedEarly = &why
	}
	s.c.mu.Unlock()
	if peer != nil {
		// Not on the caller's goroutine: Close may come from one of the
		// socket's own handlers.
		go peer.Closed(why)
	}
}

// Request sends an event that asks the client for an ack, and waits for it.
func (s *Socket) Request(ctx context.Context, event string, data []byte) (json.RawMessage, error) {
	c := s.c
	id := c.ackSeq.Add(1)
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	if c.sockets[s.ns] != s {
		c.mu.Unlock()
		return nil, link.ErrClosed
	}
	c.requests[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.requests, id)
		c.mu.Unlock()
	}()
	s.send(encodeMessage(EncodeEvent(s.ns, id, event, data, false)))
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.sess.Done():
		return nil, link.ErrClosed
	}
}
