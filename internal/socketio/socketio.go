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

// Server is the Socket.IO layer: the engineio.Handler of the sessions.
type Server struct {
	h   Handler
	log *slog.Logger
}

// NewServer returns a Socket.IO layer serving h.
func NewServer(h Handler, log *slog.Logger) *Server {
	return &Server{h: h, log: log}
}

// conn is the Socket.IO state of one session.
type conn struct {
	srv  *Server
	sess *engineio.Session

	// Touched by packet handling only, which is serialized.
	pending *Packet // a binary packet waiting for its attachments
	atts    [][]byte

	ackSeq   atomic.Int64
	mu       sync.Mutex
	sockets  map[string]*Socket
	requests map[int64]chan json.RawMessage
}

// Open starts the Socket.IO state of a session.
func (srv *Server) Open(s *engineio.Session) {
	s.Peer = &conn{srv: srv, sess: s, sockets: make(map[string]*Socket), requests: make(map[int64]chan json.RawMessage)}
}

// Closed ends every socket of the session.
func (srv *Server) Closed(s *engineio.Session, why link.Closed) {
	c := s.Peer.(*conn)
	c.mu.Lock()
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
// attachment of the pending binary packet.
func (srv *Server) Message(s *engineio.Session, data []byte, binary bool) {
	c := s.Peer.(*conn)
	if binary {
		c.attachment(data)
		return
	}
	p, err := Parse(data)
	if err != nil {
		srv.log.Warn("realtime: malformed Socket.IO packet; closing the session", "sid", s.ID())
		s.Close(1008, "malformed packet")
		return
	}
	if p.Attachments > 0 {
		c.pending, c.atts = &p, nil
		return
	}
	c.packet(p)
}

// attachment collects a binary attachment of the pending packet.
func (c *conn) attachment(b []byte) {
	if c.pending == nil {
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
		c.sess.Close(1008, "malformed packet")
		return
	}
	p.Data = data
	p.Type -= 3 // BINARY_EVENT to EVENT, BINARY_ACK to ACK
	c.packet(p)
}

// packet handles one complete Socket.IO packet.
func (c *conn) packet(p Packet) {
	c.mu.Lock()
	sock := c.sockets[p.NS]
	c.mu.Unlock()
	switch p.Type {
	case typeConnect:
		if sock == nil {
			c.connect(p)
		}
	case typeDisconnect:
		if sock != nil && c.remove(sock) && sock.peer != nil {
			sock.peer.Closed(link.Closed{Code: 1000, Reason: "client namespace disconnect"})
		}
	case typeEvent:
		if sock != nil && sock.peer != nil {
			sock.peer.Event(EventArgs(p))
		}
	case typeAck:
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
	if len(p.Data) > 0 && string(p.Data) != "null" {
		auth = bytes.Clone(p.Data)
	}
	sock := &Socket{c: c, ns: p.NS}
	c.mu.Lock()
	c.sockets[p.NS] = sock
	c.mu.Unlock()
	peer := c.srv.h.Connect(sock, p.NS, auth)
	if peer == nil {
		c.remove(sock)
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
			return encodeMessage(EncodeEventArgs(s.ns, -1, m.Event, m.Data, m.Pos))
		}
		return encodeMessage(EncodeEvent(s.ns, -1, m.Event, m.Data))
	}))
}

// encodeMessage prefixes a Socket.IO packet with its Engine.IO message type.
func encodeMessage(pkt []byte, atts [][]byte) ([]byte, [][]byte) {
	b := make([]byte, 0, 1+len(pkt))
	return append(append(b, '4'), pkt...), atts
}

// Ack answers the client's ack id (the envelope id minus one). An error
// reaches the ack callback as its one argument: {"error": {...}}.
func (s *Socket) Ack(id int64, data []byte, isErr bool) {
	if isErr {
		wrapped := make([]byte, 0, len(data)+10)
		wrapped = append(wrapped, `{"error":`...)
		wrapped = append(append(wrapped, data...), '}')
		data = wrapped
	}
	s.send(encodeMessage(EncodeAck(s.ns, id-1, data)))
}

// Accept answers the CONNECT with the socket's id and, in a namespace with
// history, its session as the private id ("pid") that socket.io-client's
// connection state recovery hands back on reconnection: the same pid means
// recovered.
func (s *Socket) Accept(a link.Accepted) {
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
	s.send(encodeMessage(EncodeEvent(s.ns, id, event, data)))
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.sess.Done():
		return nil, link.ErrClosed
	}
}
