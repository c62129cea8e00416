package realtime

import (
	"context"
	"time"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/presence"
)

// Presence turns on presence events for the rooms of a namespace that it
// picks: their members are told which users join and leave, or only how
// many users there are. Set it with Route.Presence or Mux.Presence.
//
// A user joins a room when the first of its sockets joins it, on any
// instance, and leaves when the last one leaves, disconnects or dies with
// its instance (within PresenceTTL): once each, cluster-wide, however many
// sockets it has on however many instances. A socket that joins a room
// hears of the users that join after it, not of those it finds there
// (Target.Users lists them); an instance tells its sockets of each user's
// joins and leaves in turn, join first, so a socket may hear the leave of a
// user that joined before it, never two joins or two leaves in a row.
// Anonymous sockets are members (they are told) but not users (they are
// never announced).
//
// In a cluster, the Store must implement store.Roster, as the stores of
// this module do: a room's users are a roster there, and the instance
// whose join or leave changed it announces the change. See
// docs/protocol.md for the events, and RELIABILITY.md for what a Redis
// outage or a crashed instance does to them.
type Presence struct {
	// Mode is the mode of every room of the namespace, unless Rooms is set.
	Mode PresenceMode
	// Rooms, when set, picks the mode of each room by its name. It must
	// give one answer per name, the same on every instance. A panic in it is
	// logged, and leaves the room off.
	Rooms func(room string) PresenceMode
	// OnChange, when set, is called once for each user that joins or
	// leaves a room with presence events, cluster-wide: on the instance
	// whose socket made the change, or, for the users of an instance that
	// died, on one of the instances that saw it die. The calls of one
	// instance are made one at a time, in order, from a goroutine of the
	// mux, so a slow OnChange delays the next calls, not the sockets; a
	// user's changes on two instances may be seen by their two OnChange in
	// either order. A panic is logged.
	OnChange func(PresenceChange)
	// CountInterval is how often at most each room in PresenceCounts mode
	// sends its count (default 1s): changes in between are coalesced.
	CountInterval time.Duration
}

// PresenceMode is what a room's members are told of its users.
type PresenceMode uint8

// The modes of a room.
const (
	// PresenceOff: nothing (the default).
	PresenceOff PresenceMode = iota
	// PresenceEvents: an EventPresence for each user that joins or leaves.
	PresenceEvents
	// PresenceCounts: an EventPresenceCount with the number of users,
	// at most once per CountInterval, for rooms too big for one event per
	// user.
	PresenceCounts
)

// PresenceChange is one user that joined or left a room, given to
// Presence.OnChange.
type PresenceChange struct {
	Namespace, Room, User string
	// Joined is true when the user joined, false when it left.
	Joined bool
	// Count is the number of users in the room right after the change.
	Count int
}

// Events the server sends the members of rooms with presence events.
const (
	// EventPresence carries {"room", "user", "action": "join"|"leave"}.
	EventPresence = presence.EventPresence
	// EventPresenceCount carries {"room", "count"}.
	EventPresenceCount = presence.EventCount
)

// Presence sets the presence events of the mux's namespace, for
// namespaces built with On and Handle (a Route has its own field). It
// panics if they are set twice or invalid.
func (m *Mux) Presence(p Presence) {
	m.mustNotBeStarted("Presence")
	if msg := checkPresence(&p); msg != "" {
		panic("realtime: Presence in namespace " + m.ns.name + ": " + msg)
	}
	if m.ns.presence != nil {
		panic("realtime: Presence is already set for namespace " + m.ns.name)
	}
	m.ns.presence = &p
}

// checkPresence returns what is wrong with a Presence, or "".
func checkPresence(p *Presence) string {
	return presence.Check(presence.Mode(p.Mode), p.Rooms != nil, p.CountInterval)
}

// presenceEvents returns the settings of the presence events of the
// namespaces that have some, or nil.
func (s *server) presenceEvents() *presence.EventsConfig {
	spaces := make(map[string]presence.Namespace)
	for name, ns := range s.namespaces {
		p := ns.presence
		if p == nil {
			continue
		}
		n := presence.Namespace{Interval: p.CountInterval, Mode: func(string) presence.Mode { return presence.Mode(p.Mode) }}
		if p.Rooms != nil {
			n.Mode = func(room string) presence.Mode { return presence.Mode(p.Rooms(room)) }
		}
		if p.OnChange != nil {
			n.Hook = func(c presence.Change) {
				p.OnChange(PresenceChange{Namespace: c.NS, Room: c.Room, User: c.User, Joined: c.Joined, Count: c.Count})
			}
		}
		spaces[name] = n
	}
	if len(spaces) == 0 {
		return nil
	}
	return &presence.EventsConfig{
		Namespaces: spaces, Logger: s.cfg.Logger,
		Local: s.presenceLocal, Audience: s.presenceAudience,
		Deliver: func(ns, room string, m *link.Message) {
			if m.Event == EventPresenceCount {
				s.namespaces[ns].members.DeliverCount(room, m)
			} else {
				s.namespaces[ns].deliver(topicRoom, room, "", m)
			}
		},
		Publish: func(ns, room string, m *link.Message) error {
			return s.publish(context.Background(), roomTopic(ns, room), "", m)
		},
	}
}

// syncPresence brings the presence of a user in a namespace (room "") or a
// room, and the room's presence events, to the local tables.
func (s *server) syncPresence(ns, room, user string) { s.node.Sync(ns, room, user) }

// presenceLocal reports whether a user has a socket here in a namespace
// (room "") or a room.
func (s *server) presenceLocal(name, room, user string) bool {
	return s.namespaces[name].members.Present(room, user)
}

func (s *server) presenceAudience(name, room string) bool {
	return s.namespaces[name].members.Count(topicRoom, room) > 0
}
