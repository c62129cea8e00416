package realtime

import (
	"errors"

	"github.com/lolyjs/realtime/internal/check"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/relay"
	"github.com/lolyjs/realtime/internal/rooms"
)

// targetSocket is the kind of a Target of one socket by id. Its operations
// travel on the namespace topic, to which every instance is subscribed.
const targetSocket = rooms.KindSocket

// ToSocket narrows a namespace Target to the socket with the given id (see
// Socket.ID; a Socket.IO client knows it as socket.id), on whichever
// instance holds it. Emit, Disconnect, Join and Leave work on it; Users
// does not.
func (t Target) ToSocket(id string) Target {
	return Target{ctx: t.ctx, ns: t.ns, kind: targetSocket, name: id, except: t.except}
}

// Disconnect closes every socket of the target, on every instance, as
// Socket.Close does: a native client gets a close frame with code and
// reason; a Socket.IO client is disconnected from the namespace ("io server
// disconnect"); each socket's disconnect event gets a *CloseError with them.
// A socket is part of a target once its connect middleware accepted it; one
// whose connect handler still runs is closed when it ends.
//
// The code must be one an application may choose (1000, 1001, 1008, 1011,
// 1013, or 4000 to 4999), and the reason at most 123 bytes of UTF-8: others
// are refused with an error, and nothing is closed. Local sockets are closed
// at once, the other instances told through the broker: Disconnect fails as
// Emit does while they cannot be reached.
func (t Target) Disconnect(code uint16, reason string) error {
	if msg := check.Close(code, reason); msg != "" {
		return errors.New("realtime: " + msg)
	}
	return t.control(&relay.Control{Op: relay.OpDisconnect, Code: code, Reason: reason})
}

// Join puts every socket of the target in a room, on every instance, as
// Socket.Join does (the room name is checked the same way). A socket at
// Limits.MaxRoomsPerSocket is left out and logged by its instance; a
// closing one is left out. Local sockets join at once, the other instances
// are told through the broker: Join fails as Emit does while they cannot be
// reached, and an emit to the room right after Join may miss the sockets of
// an instance that has not received the join yet.
func (t Target) Join(room string) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	return t.control(&relay.Control{Op: relay.OpJoin, Room: room})
}

// Leave takes every socket of the target out of a room, on every instance,
// as Socket.Leave does; otherwise as Join.
func (t Target) Leave(room string) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	return t.control(&relay.Control{Op: relay.OpLeave, Room: room})
}

// checkRoom is the check of a room name.
func checkRoom(room string) error {
	if room == "" || len(room) > 256 {
		return &Error{Code: CodeBadPayload, Message: "room name must be 1 to 256 bytes"}
	}
	return nil
}

// control applies an operation to the target's local sockets, then sends it
// to the other instances, unless the target is one socket found here.
func (t Target) control(c *relay.Control) error {
	if t.ns == nil {
		return errors.New("realtime: " + c.Op + " on a zero Target")
	}
	if t.kind == targetSocket {
		if t.name == "" {
			return errors.New("realtime: " + c.Op + " on ToSocket with an empty id")
		}
		if t.name == t.except {
			return nil
		}
		c.Socket = t.name
	}
	if t.ns.control(t.kind, t.name, t.except, c) > 0 && t.kind == targetSocket {
		return nil
	}
	return t.ns.srv.publishControl(t.topicName(), t.except, c)
}

// control applies an operation, local or received, to the local sockets of
// a target, except the one with id except, and returns how many it found
// (see rooms.Table.Control).
func (ns *namespace) control(kind byte, name, except string, c *relay.Control) int {
	return ns.members.Control(kind, name, except, c, rooms.Ops[*Socket]{
		Close: (*Socket).Close,
		Join: func(s *Socket, room string) {
			if err := ns.join(s, room); err != nil && !errors.Is(err, link.ErrClosed) {
				ns.srv.cfg.Logger.Warn("realtime: socket left out of a join", "socket", s.id, "room", room, "error", err.Error())
			}
		},
		Leave: func(s *Socket, room string) { _ = ns.leave(s, room) },
	})
}
