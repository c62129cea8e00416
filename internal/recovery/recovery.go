// Package recovery lets a client that reconnects recover its socket in a
// namespace whose rooms keep history: the session record each such socket
// leaves in the store, and what a recovered socket missed, read back from
// the history log in the order of its positions. It also reads back the
// emits a log keeps. It knows nothing of sockets: its owner joins the rooms
// and queues the messages.
package recovery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/catchup"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/relay"
	"github.com/lolyjs/realtime/store"
)

// TTL is how long a connected socket's session record lives, so that its
// clients can recover after the instance that served them died without a
// goodbye. A clean disconnect shortens it to the history's TTL.
const TTL = 24 * time.Hour

// Request is a reconnecting client's request: its session and its last
// position ("" for the one it connected at).
type Request struct {
	Session, Offset string
}

// FromQuery returns the request of a native client, its session and offset
// query parameters, or nil when it asks for none.
func FromQuery(q url.Values) *Request {
	if !q.Has("session") {
		return nil
	}
	return &Request{Session: q.Get("session"), Offset: q.Get("offset")}
}

// FromAuth returns the request of a socket.io-client, or nil when it asks
// for none: its connection state recovery sends the pid it was given and
// the offset of the last event it got, in its auth.
func FromAuth(auth []byte) *Request {
	var req struct {
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if json.Unmarshal(auth, &req) != nil || req.PID == "" {
		return nil
	}
	return &Request{Session: req.PID, Offset: req.Offset}
}

// Reasons a recovery fails, as clients are told.
const (
	ReasonUnknownSession = "unknown or expired session"
	ReasonBadOffset      = "malformed offset"
	ReasonEpoch          = "the history was lost (new epoch)"
	ReasonFuture         = "offset from the future"
	ReasonGone           = "missed messages are no longer in the history"
	ReasonUnavailable    = "the history cannot be read"
)

// Record is what a socket of a namespace with history leaves in the store,
// so that its client can recover it on any instance: who it was, where it
// was, and its position when it connected.
type Record struct {
	User   string   `json:"u,omitempty"`
	Socket string   `json:"s"`
	Rooms  []string `json:"r,omitempty"`
	Pos    string   `json:"p"`
}

// Sessions are the session records and the history of one namespace.
type Sessions struct {
	Store  store.Store
	Log    history.Log
	NS     string
	Logger *slog.Logger
}

func (s Sessions) key(id string) string { return "session:" + s.NS + ":" + id }

// Save records a session for ttl (0 keeps TTL). A failure is logged: it
// costs the client a recovery, not its socket.
func (s Sessions) Save(id string, rec Record, ttl time.Duration) {
	b, _ := json.Marshal(rec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ttl == 0 {
		ttl = TTL
	}
	if err := s.Store.Set(ctx, s.key(id), b, ttl); err != nil {
		s.Logger.Warn("realtime: cannot save a socket's session; its client will not recover it",
			"namespace", s.NS, "socketId", rec.Socket, "error", err)
	}
}

// Drop deletes the session record of a closed socket.
func (s Sessions) Drop(id, socket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Store.Delete(ctx, s.key(id)); err != nil {
		s.Logger.Warn("realtime: cannot drop a closed socket's session", "namespace", s.NS, "socketId", socket, "error", err)
	}
}

// Last returns the namespace's last position, or "" when the log cannot
// tell it.
func (s Sessions) Last(ctx context.Context) string {
	if last, err := s.Log.Last(ctx, s.NS); err == nil {
		return last.String()
	}
	return ""
}

// Member is what Recover needs of the socket that recovers a session.
type Member struct {
	// User is the socket's user id ("" for none): it must be the session's.
	User string
	// MaxRooms caps the rooms restored (<= 0: no cap).
	MaxRooms int
	// Join and Leave put the socket in and out of a room.
	Join, Leave func(room string)
	// Keeps reports whether a room keeps history.
	Keeps func(room string) bool
}

// Recover restores the rooms of a session and reads what its client
// missed, up to a cut taken once the rooms are joined (what comes later
// arrives live), in order. It returns the reason it failed, or "".
func (s Sessions) Recover(ctx context.Context, req Request, m Member) ([]catchup.Item, history.Position, string) {
	raw, err := s.Store.Get(ctx, s.key(req.Session))
	var rec Record
	if err != nil || json.Unmarshal(raw, &rec) != nil || rec.User != m.User {
		return nil, history.Position{}, ReasonUnknownSession
	}
	offset := req.Offset
	if offset == "" {
		offset = rec.Pos
	}
	from, err := history.ParsePosition(offset)
	if err != nil {
		return nil, history.Position{}, ReasonBadOffset
	}
	last, err := s.Log.Last(ctx, s.NS)
	switch {
	case err != nil:
		return nil, history.Position{}, ReasonUnavailable
	case from.Epoch != last.Epoch:
		return nil, history.Position{}, ReasonEpoch
	case from.Seq > last.Seq:
		return nil, history.Position{}, ReasonFuture
	}
	if m.MaxRooms > 0 && len(rec.Rooms) > m.MaxRooms {
		rec.Rooms = rec.Rooms[:m.MaxRooms]
	}
	for _, room := range rec.Rooms {
		m.Join(room) // live messages from now on are held with the connect
	}
	leaveAll := func() {
		for _, room := range rec.Rooms {
			m.Leave(room)
		}
	}
	cut, err := s.Log.Last(ctx, s.NS)
	if err != nil || cut.Epoch != from.Epoch {
		leaveAll()
		return nil, history.Position{}, ReasonUnavailable
	}
	var replay []catchup.Item
	for _, room := range rec.Rooms {
		if !m.Keeps(room) {
			continue
		}
		entries, err := s.Log.Read(ctx, s.NS, room, from, cut.Seq)
		if err != nil {
			leaveAll()
			if errors.Is(err, history.ErrGone) {
				return nil, history.Position{}, ReasonGone
			}
			return nil, history.Position{}, ReasonUnavailable
		}
		for _, it := range Entries(room, from.Epoch, entries) {
			if it.Except != rec.Socket { // what the old socket sent to the others
				replay = append(replay, it)
			}
		}
	}
	slices.SortFunc(replay, func(a, b catchup.Item) int { return cmp.Compare(a.Pos.Seq, b.Pos.Seq) })
	return replay, cut, ""
}

// Read returns a room's messages after a position, for a catch-up.
func (s Sessions) Read(ctx context.Context, room string, after history.Position) ([]catchup.Item, error) {
	entries, err := s.Log.Read(ctx, s.NS, room, after, 0)
	return Entries(room, after.Epoch, entries), err
}

// Page returns a room's messages after the offset since ("" for every one
// kept), oldest first. The errors are history.Log.Read's, and
// history.ParsePosition's for a malformed offset.
func (s Sessions) Page(ctx context.Context, room, since string) ([]catchup.Item, error) {
	from := history.Position{}
	if since != "" {
		p, err := history.ParsePosition(since)
		if err != nil {
			return nil, err
		}
		from = p
	}
	entries, err := s.Log.Read(ctx, s.NS, room, from, 0)
	if err != nil {
		return nil, err
	}
	epoch := from.Epoch
	if epoch == "" {
		last, err := s.Log.Last(ctx, s.NS)
		if err != nil {
			return nil, err
		}
		epoch = last.Epoch
	}
	return Entries(room, epoch, entries), nil
}

// Entries turns a room's log entries into messages at their positions.
func Entries(room, epoch string, entries []history.Entry) []catchup.Item {
	out := make([]catchup.Item, 0, len(entries))
	for _, e := range entries {
		except, msg, ok := Parse(e.Payload)
		if !ok {
			continue
		}
		pos := history.Position{Epoch: epoch, Seq: e.Seq}
		out = append(out, catchup.Item{Room: room, Pos: pos, Except: except, Msg: At(room, pos, msg)})
	}
	return out
}

// At makes m a message of a room with history, at its position.
func At(room string, pos history.Position, m *link.Message) *link.Message {
	m.Room, m.Pos, m.Seq = room, pos.String(), pos.Seq
	return m
}

// Parse reads an emit a log kept: a cluster message (see internal/relay),
// whichever instance wrote it.
func Parse(b []byte) (except string, msg *link.Message, ok bool) {
	m, ok := relay.Parse(b, "")
	if !ok || m.Control != nil {
		return "", nil, false
	}
	msg = link.NewMessage(m.Event, m.Data)
	msg.Spread = m.Spread
	return m.Except, msg, true
}
