package realtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/catchup"
	"github.com/lolyjs/realtime/internal/link"
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

// sessionTTL is how long a connected socket's session record lives, so
// that its clients can recover after the instance that served them died
// without a goodbye. A clean disconnect shortens it to the history's TTL.
const sessionTTL = 24 * time.Hour

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
	body := relay.AppendEmit(nil, srv.id, t.except, msg.Event, msg.Data, msg.Spread)
	ctx, cancel := context.WithTimeout(t.ctx, 2*time.Second)
	defer cancel()
	if srv.broker != nil {
		_, _, err := srv.history.Append(ctx, ns.name, t.name, body, h.keep(), roomTopic(ns.name, t.name))
		if err != nil {
			return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: fmt.Errorf("realtime: append to history: %w", err)}
		}
		return nil
	}
	ns.logMu.Lock()
	defer ns.logMu.Unlock()
	pos, prev, err := srv.history.Append(ctx, ns.name, t.name, body, h.keep(), "")
	if err != nil {
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: fmt.Errorf("realtime: append to history: %w", err)}
	}
	ns.router.Accept(catchup.Item{Room: t.name, Pos: pos, Prev: prev, Except: t.except, Msg: loggedMessage(t.name, pos, msg)})
	return nil
}

// loggedMessage makes m a message of a room with history, at its position.
func loggedMessage(room string, pos history.Position, m *link.Message) *link.Message {
	m.Room, m.Pos, m.Seq = room, pos.String(), pos.Seq
	return m
}

// receiveLogged delivers a frame a history log published.
func (s *server) receiveLogged(t topic, pos history.Position, prev uint64, body []byte) {
	except, msg, ok := parseLogged(body)
	if !ok || t.kind != topicRoom {
		return
	}
	t.ns.router.Accept(catchup.Item{Room: t.name, Pos: pos, Prev: prev, Except: except, Msg: loggedMessage(t.name, pos, msg)})
}

// initRouter sets the functions of the namespace's router.
func (ns *namespace) initRouter() {
	ns.router.Deliver = func(it catchup.Item) { ns.deliver(topicRoom, it.Room, it.Except, it.Msg) }
	ns.router.Read = func(ctx context.Context, room string, after history.Position) ([]catchup.Item, error) {
		entries, err := ns.srv.history.Read(ctx, ns.name, room, after, 0)
		return entriesOf(room, after.Epoch, entries), err
	}
	ns.router.Lost = func(room string, err error) {
		ns.srv.cfg.Logger.Warn("realtime: cannot catch a room up from its history; its sockets missed messages",
			"namespace", ns.name, "room", room, "error", err)
	}
}

// entriesOf turns a room's log entries into messages.
func entriesOf(room, epoch string, entries []history.Entry) []catchup.Item {
	out := make([]catchup.Item, 0, len(entries))
	for _, e := range entries {
		except, msg, ok := parseLogged(e.Payload)
		if !ok {
			continue
		}
		pos := history.Position{Epoch: epoch, Seq: e.Seq}
		out = append(out, catchup.Item{Room: room, Pos: pos, Except: except, Msg: loggedMessage(room, pos, msg)})
	}
	return out
}

// session is what a socket of a namespace with history leaves in the store,
// so that its client can recover it on any instance: who it was, where it
// was, and its position when it connected.
type session struct {
	User   string   `json:"u,omitempty"`
	Socket string   `json:"s"`
	Rooms  []string `json:"r,omitempty"`
	Pos    string   `json:"p"`
}

func sessionKey(ns, id string) string { return "session:" + ns + ":" + id }

// saveSession records the socket's session; ttl 0 keeps sessionTTL. A
// failure is logged: it costs the client a recovery, not its socket.
func (s *Socket) saveSession(ttl time.Duration) {
	if s.session == "" {
		return
	}
	rec := session{Socket: s.id, Rooms: s.Rooms(), Pos: s.sessionPos}
	if u := s.User(); u != nil {
		rec.User = u.ID
	}
	b, _ := json.Marshal(rec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ttl == 0 {
		ttl = sessionTTL
	}
	if err := s.ns.srv.store.Set(ctx, sessionKey(s.ns.name, s.session), b, ttl); err != nil {
		s.ns.srv.cfg.Logger.Warn("realtime: cannot save a socket's session; its client will not recover it",
			"namespace", s.ns.name, "socketId", s.id, "error", err)
	}
}

// dropSession deletes the socket's session record.
func (s *Socket) dropSession() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.ns.srv.store.Delete(ctx, sessionKey(s.ns.name, s.session)); err != nil {
		s.ns.srv.cfg.Logger.Warn("realtime: cannot drop a closed socket's session", "namespace", s.ns.name, "socketId", s.id, "error", err)
	}
}

// recovery is a reconnecting client's request: its session and its last
// position ("" for the one it connected at).
type recovery struct {
	session, offset string
}

// Reasons a recovery fails, as clients are told.
const (
	reasonUnknownSession = "unknown or expired session"
	reasonBadOffset      = "malformed offset"
	reasonEpoch          = "the history was lost (new epoch)"
	reasonFuture         = "offset from the future"
	reasonGone           = "missed messages are no longer in the history"
	reasonUnavailable    = "the history cannot be read"
)

// startSession gives a socket of a namespace with history its session:
// the one it recovers, or a new one. It runs in the connect chain, after
// the stages (so the user is bound), before the application's handler.
func (s *Socket) startSession() {
	ns := s.ns
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if req := s.recover; req != nil {
		replay, cut, reason := s.recoverSession(ctx, *req)
		if reason == "" {
			s.recovered, s.session, s.sessionPos = true, req.session, cut.String()
			s.acceptWith(replay, cut.Seq)
			s.saveSession(0)
			return
		}
		s.recoveryReason = reason
	}
	s.session = uuid.NewString()
	if last, err := ns.srv.history.Last(ctx, ns.name); err == nil {
		s.sessionPos = last.String()
	}
	s.acceptWith(nil, 0)
	s.saveSession(0)
}

// recoverSession restores the rooms of a session and reads what its client
// missed, up to a cut taken once the rooms are joined (what comes later
// arrives live). It returns the reason it failed, or "".
func (s *Socket) recoverSession(ctx context.Context, req recovery) ([]catchup.Item, history.Position, string) {
	ns, srv := s.ns, s.ns.srv
	raw, err := srv.store.Get(ctx, sessionKey(ns.name, req.session))
	var rec session
	if err != nil || json.Unmarshal(raw, &rec) != nil || rec.User != s.userID() {
		return nil, history.Position{}, reasonUnknownSession
	}
	offset := req.offset
	if offset == "" {
		offset = rec.Pos
	}
	from, err := history.ParsePosition(offset)
	if err != nil {
		return nil, history.Position{}, reasonBadOffset
	}
	last, err := srv.history.Last(ctx, ns.name)
	switch {
	case err != nil:
		return nil, history.Position{}, reasonUnavailable
	case from.Epoch != last.Epoch:
		return nil, history.Position{}, reasonEpoch
	case from.Seq > last.Seq:
		return nil, history.Position{}, reasonFuture
	}
	if max := srv.cfg.Limits.MaxRoomsPerSocket; max > 0 && len(rec.Rooms) > max {
		rec.Rooms = rec.Rooms[:max]
	}
	for _, room := range rec.Rooms {
		_ = s.Join(room) // live messages from now on are held with the connect
	}
	cut, err := srv.history.Last(ctx, ns.name)
	if err != nil || cut.Epoch != from.Epoch {
		s.leaveAll(rec.Rooms)
		return nil, history.Position{}, reasonUnavailable
	}
	var replay []catchup.Item
	for _, room := range rec.Rooms {
		if ns.historyOf(room).Size <= 0 {
			continue
		}
		entries, err := srv.history.Read(ctx, ns.name, room, from, cut.Seq)
		if err != nil {
			s.leaveAll(rec.Rooms)
			if errors.Is(err, history.ErrGone) {
				return nil, history.Position{}, reasonGone
			}
			return nil, history.Position{}, reasonUnavailable
		}
		for _, m := range entriesOf(room, from.Epoch, entries) {
			if m.Except != rec.Socket { // what the old socket sent to the others
				replay = append(replay, m)
			}
		}
	}
	slices.SortFunc(replay, func(a, b catchup.Item) int { return cmp.Compare(a.Pos.Seq, b.Pos.Seq) })
	return replay, cut, ""
}

func (s *Socket) userID() string {
	if u := s.User(); u != nil {
		return u.ID
	}
	return ""
}

func (s *Socket) leaveAll(rooms []string) {
	for _, room := range rooms {
		_ = s.Leave(room)
	}
}

// acceptWith tells the client it is connected and, for a recovered one,
// queues what it missed: both go first in what the connect holds, ahead of
// anything live that reached the socket meanwhile, which the release skips
// up to the cut (the replay has it).
func (s *Socket) acceptWith(replay []catchup.Item, cut uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.holding.Load() {
		s.link.Accept(s.accepted())
		return
	}
	first := make([]output, 0, 1+len(replay)+len(s.held))
	first = append(first, output{accept: true})
	for _, m := range replay {
		first = append(first, output{msg: m.Msg, replay: true})
	}
	s.held = append(first, s.held...)
	s.replayCut = cut
}

// stale reports whether a held output need not go out: a live message the
// replay already covered, or one for a room the socket left before its
// connect ended. Called with s.mu held.
func (s *Socket) stale(o output) bool {
	if o.msg == nil || o.msg.Pos == "" {
		return false
	}
	if !s.member.In(o.msg.Room) {
		return true
	}
	return !o.replay && o.msg.Seq <= s.replayCut
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
	from := history.Position{}
	if since != "" {
		p, err := history.ParsePosition(since)
		if err != nil {
			return nil, err
		}
		from = p
	}
	entries, err := ns.srv.history.Read(ctx, ns.name, room, from, 0)
	if err != nil {
		return nil, err
	}
	epoch := from.Epoch
	if epoch == "" {
		last, err := ns.srv.history.Last(ctx, ns.name)
		if err != nil {
			return nil, err
		}
		epoch = last.Epoch
	}
	out := make([]HistoryMessage, 0, len(entries))
	for _, m := range entriesOf(room, epoch, entries) {
		out = append(out, HistoryMessage{Event: m.Msg.Event, Data: m.Msg.Data, Offset: m.Msg.Pos})
	}
	return out, nil
}

// parseLogged reads an emit a log kept: a cluster message (see
// internal/relay), whichever instance wrote it.
func parseLogged(b []byte) (except string, msg *link.Message, ok bool) {
	m, ok := relay.Parse(b, "")
	if !ok || m.Control != nil {
		return "", nil, false
	}
	msg = link.NewMessage(m.Event, m.Data)
	msg.Spread = m.Spread
	return m.Except, msg, true
}
