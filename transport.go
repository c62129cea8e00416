package realtime

import (
	"encoding/json"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/native"
	"github.com/lolyjs/realtime/internal/recovery"
	"github.com/lolyjs/realtime/internal/socketio"
	"github.com/lolyjs/realtime/internal/wire"
)

// The transports meet the core here: each reports what arrives to a peer
// of the socket's, and the socket answers through its link.Conn.

// nativePeer is the core's side of a native connection.
type nativePeer struct{ s *Socket }

func (p nativePeer) Open() { _ = p.s.connect(nil) }

func (p nativePeer) Event(env wire.Envelope, problem string) { p.s.handle(env, problem) }

func (p nativePeer) Closed(why link.Closed) {
	p.s.disconnect(closeError(why))
	p.s.ns.srv.untrack(p.s.link.(*native.Conn), p.s.ip)
}

// sioHandler serves the namespaces of Socket.IO sessions.
type sioHandler struct{ srv *server }

func (h sioHandler) Connect(sock *socketio.Socket, name string, auth []byte) socketio.Peer {
	ns := h.srv.namespaces[name]
	if ns == nil {
		return nil
	}
	sess := sock.Session()
	s := newSocket(ns, sock, sess.Request(), h.srv.cfg.ClientIP(sess.Request()))
	if ns.keepsHistory() {
		s.recover = recovery.FromAuth(auth)
	}
	_ = s.connect(json.RawMessage(auth))
	return sioPeer{s}
}

// sioPeer is the core's side of one namespace of a Socket.IO session.
type sioPeer struct{ s *Socket }

func (p sioPeer) Event(env wire.Envelope, problem string) { p.s.handle(env, problem) }

func (p sioPeer) Closed(why link.Closed) { p.s.disconnect(closeError(why)) }

// closeError is the disconnect reason of a socket that ended.
func closeError(why link.Closed) *CloseError {
	return &CloseError{Code: why.Code, Reason: why.Reason, ByClient: !why.ByServer}
}
