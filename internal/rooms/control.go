package rooms

import (
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/relay"
)

// Ops are what a control operation does to one member.
type Ops[M any] struct {
	Close func(m M, code uint16, reason string)
	Join  func(m M, room string)
	Leave func(m M, room string)
}

// Control applies a control operation, local or received, to the members
// of a target but the one with id except, and returns how many it found.
// An operation for one socket (c.Socket) that came on the namespace's topic
// applies to that socket alone. An emit is delivered as the table delivers,
// one message for every member.
func (t *Table[M]) Control(kind byte, name, except string, c *relay.Control, ops Ops[M]) int {
	if c.Socket != "" && kind == KindNamespace {
		kind, name = KindSocket, c.Socket
	}
	var members []M
	t.Each(kind, name, except, func(m M) { members = append(members, m) })
	var msg *link.Message
	for _, m := range members {
		switch c.Op {
		case relay.OpDisconnect:
			ops.Close(m, c.Code, c.Reason)
		case relay.OpJoin:
			ops.Join(m, c.Room)
		case relay.OpLeave:
			ops.Leave(m, c.Room)
		case relay.OpEmit:
			if msg == nil {
				msg = link.NewMessage(c.Event, c.Data)
				msg.Spread = c.Spread
			}
			t.deliver(m, msg)
		}
	}
	return len(members)
}
