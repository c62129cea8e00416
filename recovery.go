package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/catchup"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/recovery"
	"github.com/lolyjs/realtime/internal/relay"
)

// History is how much of a room's messages the server keeps, so that a
// client that reconnects gets what it missed (see Route.History): its last
// Size messages, for TTL after the last one. A zero Size keeps none.
type History struct {
	Size int
	// TTL defaults to DefaultHistoryTTL.
	TTL time.Duration
}

// DefaultHistoryTTL is History.TTL when it is zero, and how long a
// disconnected client may come back for what it missed.
const DefaultHistoryTTL = 2 * time.Minute

func (h History) keep() history.Keep {
	ttl := h.TTL
	if ttl <= 0 {
		ttl = DefaultHistoryTTL
	}
	return history.Keep{Size: h.Size, TTL: ttl}
}

// historyOf returns the history kept for a room of the namespace.
func (ns *namespace) historyOf(room string) History {
	if r := ns.route; r != nil {
		if r.RoomHistory != nil {
			return r.RoomHistory(room)
		}
		return r.History
	}
	return History{}
}

// keepsHistory reports whether any room of the namespace may keep history:
// its sockets then get sessions and positions.
func (ns *namespace) keepsHistory() bool {
	return ns.route != nil && (ns.route.RoomHistory != nil || ns.route.History.Size > 0)
}

// window is how long a disconnected socket of the namespace may recover.
func (ns *namespace) window() time.Duration {
	if ns.route != nil && ns.route.History.TTL > 0 {
		return ns.route.History.TTL
	}
	return DefaultHistoryTTL
}

// emitLogged emits to a room with history: the message is appended to the
// room's stream first, and delivered in the order of its position. In a
// cluster the log publishes it in the same step and every instance, this one
// included, delivers it when it comes back from the broker; alone, the
// instance delivers it itself. Nothing is delivered when the append fails.
func (t Target) emitLogged(h History, msg *link.Message) error {
	ns, srv := t.ns, t.ns.srv
	body := relay.AppendEmit(nil, srv.node.ID, t.except, msg.Event, msg.Data, msg.Spread)
	ctx, cancel := context.WithTimeout(t.ctx, 2*time.Second)
	defer cancel()
	if srv.node.Cluster() {
		_, _, err := srv.node.History.Append(ctx, ns.name, t.name, body, h.keep(), roomTopic(ns.name, t.name))
		if err != nil {
			return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: fmt.Errorf("realtime: append to history: %w", err)}
		}
		return nil
	}
	ns.logMu.Lock()
	defer ns.logMu.Unlock()
	pos, prev, err := srv.node.History.Append(ctx, ns.name, t.name, body, h.keep(), "")
	if err != nil {
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: fmt.Errorf("realtime: append to history: %w", err)}
	}
	ns.router.Accept(catchup.Item{Room: t.name, Pos: pos, Prev: prev, Except: t.except, Msg: recovery.At(t.name, pos, msg)})
	return nil
}

// receiveLogged delivers a frame a history log published.
func (s *server) receiveLogged(t topic, pos history.Position, prev uint64, body []byte) {
	except, msg, ok := recovery.Parse(body)
	if !ok || t.kind != topicRoom {
		return
	}
	t.ns.router.Accept(catchup.Item{Room: t.name, Pos: pos, Prev: prev, Except: except, Msg: recovery.At(t.name, pos, msg)})
}

// initRouter sets the functions of the namespace's router.
func (ns *namespace) initRouter() {
	ns.router.Deliver = func(it catchup.Item) { ns.deliver(topicRoom, it.Room, it.Except, it.Msg) }
	ns.router.Read = func(ctx context.Context, room string, after history.Position) ([]catchup.Item, error) {
		return ns.sessions().Read(ctx, room, after)
	}
	ns.router.Lost = func(room string, err error) {
		ns.srv.cfg.Logger.Warn("realtime: cannot catch a room up from its history; its sockets missed messages",
			"namespace", ns.name, "room", room, "error", err)
	}
}

// sessions are the session records and history of the namespace.
func (ns *namespace) sessions() recovery.Sessions {
	return recovery.Sessions{Store: ns.srv.node.Store, Log: ns.srv.node.History, NS: ns.name, Logger: ns.srv.cfg.Logger}
}

// saveSession records the socket's session; ttl 0 keeps it as long as a
// connected socket's (recovery.TTL).
func (s *Socket) saveSession(ttl time.Duration) {
	if s.session == "" {
		return
	}
	s.ns.sessions().Save(s.session, recovery.Record{User: s.userID(), Socket: s.id, Rooms: s.Rooms(), Pos: s.sessionPos}, ttl)
}

// dropSession deletes the socket's session record.
func (s *Socket) dropSession() { s.ns.sessions().Drop(s.session, s.id) }

// startSession gives a socket of a namespace with history its session:
// the one it recovers, or a new one. It runs in the connect chain, after
// the stages (so the user is bound), before the application's handler.
func (s *Socket) startSession() {
	ns := s.ns
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if req := s.recover; req != nil {
		replay, cut, reason := ns.sessions().Recover(ctx, *req, recovery.Member{
			User:     s.userID(),
			MaxRooms: ns.srv.cfg.Limits.MaxRoomsPerSocket,
			Join:     func(room string) { _ = s.Join(room) },
			Leave:    func(room string) { _ = s.Leave(room) },
			Keeps:    func(room string) bool { return ns.historyOf(room).Size > 0 },
		})
		if reason == "" {
			s.recovered, s.session, s.sessionPos = true, req.Session, cut.String()
			s.acceptWith(replay, cut.Seq)
			s.saveSession(0)
			return
		}
		s.recoveryReason = reason
	}
	s.session = uuid.NewString()
	s.sessionPos = ns.sessions().Last(ctx)
	s.acceptWith(nil, 0)
	s.saveSession(0)
}

func (s *Socket) userID() string {
	if u := s.User(); u != nil {
		return u.ID
	}
	return ""
}

// acceptWith tells the client it is connected and, for a recovered one,
// queues what it missed, ahead of what the connect holds (see
// gate.Gate.Accept).
func (s *Socket) acceptWith(replay []catchup.Item, cut uint64) {
	s.out.Accept(s.link, s.accepted(), replay, cut)
}

// Recovered reports, in the connect of a reconnecting client, whether its
// socket was recovered: its rooms restored, and what it missed queued after
// the connected notice. See Route.History.
func (c *Ctx) Recovered() bool { return c.socket.recovered }

// RecoveryFailure returns why the recovery a reconnecting client asked for
// failed, or "" (no recovery asked, or it succeeded).
func (c *Ctx) RecoveryFailure() string { return c.socket.recoveryReason }

// HistoryMessage is one message of a room's history.
type HistoryMessage struct {
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data,omitempty"`
	Offset string          `json:"offset"`
}

// History returns the messages of a room with history after the offset
// since ("" for every one kept), oldest first, for applications that page
// through it themselves. The errors of history.Log.Read (ErrGone, ErrEpoch,
// ErrFuture, ErrBadPosition) tell a position the history cannot serve.
func (c *Ctx) History(room, since string) ([]HistoryMessage, error) {
	ns := c.socket.ns
	if ns.historyOf(room).Size <= 0 {
		return nil, fmt.Errorf("realtime: room %q of %s keeps no history", room, ns.name)
	}
	ctx, cancel := context.WithTimeout(c.Context(), 5*time.Second)
	defer cancel()
	items, err := ns.sessions().Page(ctx, room, since)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryMessage, 0, len(items))
	for _, m := range items {
		out = append(out, HistoryMessage{Event: m.Msg.Event, Data: m.Msg.Data, Offset: m.Msg.Pos})
	}
	return out, nil
}
