// Package presence keeps who is online where, per instance, in the shared
// store, so that every instance of a cluster can list the users of a
// namespace or a room; and it makes each process the one holder of its
// instance id. It knows nothing of sockets: the realtime core tells it who
// came and went, and gives it a snapshot of its tables to rewrite an entry.
package presence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lolyjs/realtime/store"
)

// Presence publishes who is online on this instance into the shared Store, so
// that every instance of a cluster can list the users of a namespace or a
// room. The core uses it only in a cluster; a single instance answers from
// its own tables.
//
// Layout, all under the store's own prefix:
//
//	presence:instances             set of instance ids
//	presence:alive:<id>            "<token> <beat>" with ttl 3/4 PresenceTTL: the instance lives
//	presence:<id>:keys             set of the keys below, for cleanup
//	presence:<id>:ns:<ns>          set of user ids online in a namespace
//	presence:<id>:room:<ns>:<room> set of user ids in a room
//	presence:<id>:rosters          "<token>\n<ns>\n<room>": the rooms with presence
//	                               events whose rosters a process of this id holds users in
//	presence:roster:<ns>:<room>    the room's roster (see Events), shared
//
// Staying alive costs one write per instance per period (ttl/4), whatever
// the number of sockets. A reader skips instances whose alive key expired and
// deletes what they left, so an instance that dies without a goodbye drops
// out within 3/4 of the ttl. A write that fails (Redis down) marks the
// instance dirty, and the next period brings its whole entry back to its
// tables; so does finding its alive key gone (Redis restarted empty).
//
// With presence events (Config.Events), each period also reaps the
// instances that died, so that their users leave the rosters, announced,
// within the ttl: 3/4 of it for the alive key to expire, and up to one
// period for the next heartbeat of a live instance to see it. A room's
// user set is written before the process is added to the roster and
// cleared after it is removed, so it always lists every user the process
// may hold there, and the rosters record lists every such room: whoever
// reaps a dead process removes it from exactly those.
//
// The alive key also says which process holds the instance id: it holds a
// token drawn by the process and a beat number that each period increments.
// A process claims its id at start (see claim) and starts from a clean slate,
// deleting whatever an earlier holder of the id left.
type Presence struct {
	cfg      Config
	st       store.Store
	id       string
	ttl      time.Duration
	aliveTTL time.Duration // 3/4 ttl
	period   time.Duration // ttl/4
	token    string
	events   *Events // nil without presence events

	// writeMu orders writes: a resync and a socket's add or remove never
	// interleave, so a resync cannot bring back a user who just left.
	writeMu sync.Mutex
	mu      sync.Mutex
	dirty   bool
	keys    map[string]struct{} // own keys known to be registered
	// rosters: the rooms recorded, with the users this process holds in
	// their rosters.
	rosters map[roomID]map[string]struct{}
	// joined: users who got a socket in a room with presence events here
	// while the instance was dirty, for the hook (see Events.Rebuild).
	joined map[roomID]map[string]struct{}

	// Owned by the goroutine that beats (start, then loop).
	beats   uint64 // beat number in the alive key
	usurped bool   // another process holds the id
	stop    chan struct{}
	done    chan struct{}
}

// Config configures a Presence.
type Config struct {
	Store  store.Store
	ID     string        // this instance's id
	TTL    time.Duration // how long a dead instance stays listed
	Logger *slog.Logger
	// Snapshot returns this instance's entries, from its own tables: the
	// users online in each namespace (Room "") and in each room.
	Snapshot func() []Entry
	// Local reports whether a user has a socket here in a namespace (room
	// "") or a room.
	Local func(ns, room, user string) bool
	// Events, when set, turns on presence events (the Store must be a
	// store.Roster): Presence makes them, with its process's token as
	// their holder.
	Events *EventsConfig
}

// Entry is who is online in a namespace, or in one of its rooms.
type Entry struct {
	NS, Room string
	Users    []string
}

// ErrInstanceIDInUse is returned, wrapped, by Claim when another live
// process of the cluster runs with the same Config.InstanceID. Two processes
// with one id would share one presence entry and drop each other's cluster
// messages (each ignores messages from its own id).
var ErrInstanceIDInUse = errors.New("realtime: instance id in use by another live process")

const presenceInstances = "presence:instances"

func presenceAlive(id string) string { return "presence:alive:" + id }
func presenceKeys(id string) string  { return "presence:" + id + ":keys" }

// key is the store key of an instance's entry for a namespace (room "")
// or a room.
func key(id, ns, room string) string {
	if room == "" {
		return "presence:" + id + ":ns:" + ns
	}
	return "presence:" + id + ":room:" + ns + ":" + room
}

// New returns the presence of an instance; Claim, then Start, bring it up.
func New(cfg Config) *Presence {
	p := &Presence{
		cfg: cfg, st: cfg.Store, id: cfg.ID, ttl: cfg.TTL, aliveTTL: cfg.TTL * 3 / 4, period: cfg.TTL / 4,
		token: uuid.NewString(),
		keys:  make(map[string]struct{}), rosters: make(map[roomID]map[string]struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if cfg.Events != nil {
		ec := *cfg.Events
		if ec.Settle == 0 {
			ec.Settle = p.period
		}
		p.events = NewEvents(ec, p.token)
	}
	return p
}

// Events returns the presence events, nil when there are none.
func (p *Presence) Events() *Events { return p.events }

// recordKey is the set of rooms whose rosters a process of an instance id
// holds users in.
func recordKey(id string) string { return "presence:" + id + ":rosters" }

func (p *Presence) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Second)
}

// aliveValue is what the alive key holds after this process's current beat.
func (p *Presence) aliveValue() []byte {
	return []byte(p.token + " " + strconv.FormatUint(p.beats, 10))
}

// ours reports whether an alive key's value was written by this process.
func (p *Presence) ours(v []byte) bool {
	tok, _, ok := strings.Cut(string(v), " ")
	return ok && tok == p.token
}

// claimPoll paces claim's reads of an alive key held by another process.
func (p *Presence) claimPoll() time.Duration {
	return min(max(p.aliveTTL/10, 10*time.Millisecond), 500*time.Millisecond)
}

// Claim makes this process the holder of its instance id and clears what an
// earlier holder left, before the instance serves anyone.
//
// When no process holds the id, claim takes it at once (atomically: of two
// processes starting together with one id, one gets it and the other sees
// it held). When the alive key is held, it is either a live process, which
// rewrites the key every ttl/4, or a process that died without a goodbye
// (a crash, a kill), whose key expires within 3/4 of the ttl. claim watches
// the key: if it changes, claim fails with ErrInstanceIDInUse; if it
// expires, claim takes the id. So a process restarted with the id of one
// that crashed starts at most 3/4 of the ttl after the crash, the moment
// the rest of the cluster considers the crashed one dead, and says so in
// the log. ctx bounds the wait.
func (p *Presence) Claim(ctx context.Context) error {
	var (
		seen    []byte
		waiting time.Time
	)
	for {
		v, err := p.st.Get(ctx, presenceAlive(p.id))
		switch {
		case errors.Is(err, store.ErrNotFound):
			took, err := p.create(ctx)
			if err != nil {
				return err
			}
			if !took {
				continue // another process just created it: watch it
			}
			if !waiting.IsZero() {
				p.cfg.Logger.Info("realtime: took over instance id: the registration of its previous process expired",
					"instance", p.id, "waited", time.Since(waiting).Round(time.Millisecond).String())
			}
			// A clean slate: delete what an earlier holder of the id left.
			return p.clear(ctx, p.id)
		case err != nil:
			return err
		}
		switch {
		case waiting.IsZero():
			waiting, seen = time.Now(), v
			p.cfg.Logger.Warn("realtime: instance id is registered by another process; waiting for its registration to expire "+
				"(a crashed process of this id stops refreshing it) or to be refreshed (a live one: then Start fails)",
				"instance", p.id, "upTo", p.aliveTTL.String())
		case !bytes.Equal(v, seen):
			return fmt.Errorf("%w: %q (its registration is being refreshed); "+
				"give every instance a unique Config.InstanceID, or leave it empty for a random one", ErrInstanceIDInUse, p.id)
		}
		if claiming(v) {
			if _, err := p.st.Expire(ctx, presenceAlive(p.id), p.aliveTTL); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("realtime: instance id %q: still registered by another process after %v (waiting for it to expire, at most PresenceTTL %v): %w",
				p.id, time.Since(waiting).Round(time.Millisecond), p.ttl, ctx.Err())
		case <-time.After(p.claimPoll()):
		}
	}
}

// claiming reports whether an alive key holds a bare counter: a claim
// between its two writes (see create), or one cut short there, whose key has
// no ttl yet. Whoever finds one sets the ttl, so that it cannot stay forever.
func claiming(v []byte) bool {
	_, err := strconv.ParseInt(string(v), 10, 64)
	return err == nil
}

// create creates the alive key if it is absent, and reports whether this
// process did. The store has no "set if absent", but Incr creates a missing
// key at zero, atomically, so only one caller of Incr on a missing key gets
// 1; it then writes its token. Incr on a key holding a token fails (not an
// integer), which also means another process holds the id.
func (p *Presence) create(ctx context.Context) (bool, error) {
	n, err := p.st.Incr(ctx, presenceAlive(p.id), 1)
	if err != nil {
		if _, gerr := p.st.Get(ctx, presenceAlive(p.id)); gerr == nil {
			return false, nil
		}
		return false, err
	}
	if n != 1 {
		return false, nil
	}
	p.beats = 0
	return true, p.st.Set(ctx, presenceAlive(p.id), p.aliveValue(), p.aliveTTL)
}

// Start registers the instance, whose id Claim took, and starts the
// heartbeat.
func (p *Presence) Start(ctx context.Context) error {
	if err := p.beat(ctx); err != nil {
		return err
	}
	go p.loop()
	return nil
}

func (p *Presence) loop() {
	defer close(p.done)
	t := time.NewTicker(p.period)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), p.period)
			err := p.beat(ctx)
			if err == nil && p.events != nil && !p.usurped {
				err = p.sweep(ctx)
			}
			if err != nil {
				p.cfg.Logger.Warn("realtime: presence heartbeat failed", "instance", p.id, "error", err)
			}
			cancel()
		}
	}
}

// beat refreshes the alive key, and rewrites the instance's entry when a
// write failed or the store lost it. When the key holds another process's
// token (it took the id while this one could not reach the store for a whole
// ttl, or the two started together), beat writes nothing, says so once, and
// takes the id back only when the other lets it go.
func (p *Presence) beat(ctx context.Context) error {
	v, err := p.st.Get(ctx, presenceAlive(p.id))
	lost := errors.Is(err, store.ErrNotFound)
	switch {
	case lost:
		took, err := p.create(ctx)
		if err != nil {
			p.markDirty()
			return err
		}
		if !took {
			p.usurp()
			return nil
		}
	case err != nil:
		p.markDirty()
		return err
	case claiming(v):
		// Someone's claim in progress, or this process's own cut short:
		// decide on the next beat, once it holds a token or expired.
		p.markDirty()
		_, err := p.st.Expire(ctx, presenceAlive(p.id), p.aliveTTL)
		return err
	case !p.ours(v):
		p.usurp()
		return nil
	default:
		p.beats++
		if err := p.st.Set(ctx, presenceAlive(p.id), p.aliveValue(), p.aliveTTL); err != nil {
			p.markDirty()
			return err
		}
	}
	if p.usurped {
		p.usurped = false
		p.cfg.Logger.Warn("realtime: instance id is held by this process again", "instance", p.id)
	}
	if _, err := p.st.SetAdd(ctx, presenceInstances, p.id); err != nil {
		p.markDirty()
		return err
	}
	p.mu.Lock()
	resync := p.dirty || lost
	p.dirty = false
	p.mu.Unlock()
	if resync {
		p.writeMu.Lock()
		defer p.writeMu.Unlock()
		if err := p.resync(ctx); err != nil {
			p.markDirty()
			return err
		}
	}
	return nil
}

// usurp notes that another process holds this instance's id: this one stops
// writing presence (the entry is the other's) until it gets the id back.
func (p *Presence) usurp() {
	p.markDirty()
	if p.usurped {
		return
	}
	p.usurped = true
	p.cfg.Logger.Error("realtime: instance id is held by another process: this instance's users are not listed, "+
		"and cluster messages between the two processes are lost; give every instance a unique Config.InstanceID",
		"instance", p.id, "error", ErrInstanceIDInUse)
}

func (p *Presence) isDirty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirty
}

func (p *Presence) markDirty() {
	p.mu.Lock()
	p.dirty = true
	p.mu.Unlock()
}

// resync brings the instance's entry back to its local tables: the users
// missing from its sets are added first, then the rosters are brought to
// the tables, then the sets lose the users they should not have, so that
// a set never lacks a user the roster may hold by this process.
func (p *Presence) resync(ctx context.Context) error {
	registered, err := p.st.SetMembers(ctx, presenceKeys(p.id))
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.keys = make(map[string]struct{})
	p.rosters = make(map[roomID]map[string]struct{})
	p.mu.Unlock()
	want := make(map[string][]string)
	var rooms []roomID
	for _, e := range p.cfg.Snapshot() {
		k := key(p.id, e.NS, e.Room)
		want[k] = e.Users
		if err := p.write(ctx, k, e.Users...); err != nil {
			return err
		}
		if e.Room != "" {
			rooms = append(rooms, roomID{e.NS, e.Room})
		}
	}
	if p.events != nil {
		if err := p.resyncRosters(ctx, rooms, want); err != nil {
			return err
		}
		p.mu.Lock()
		p.joined = nil
		p.mu.Unlock()
	}
	for _, k := range registered {
		if k == recordKey(p.id) {
			continue
		}
		users, ok := want[k]
		if !ok {
			if err := p.st.Delete(ctx, k); err != nil {
				return err
			}
			if _, err := p.st.SetRemove(ctx, presenceKeys(p.id), k); err != nil {
				return err
			}
			continue
		}
		cur, err := p.st.SetMembers(ctx, k)
		if err != nil {
			return err
		}
		if extra := minus(cur, users); len(extra) > 0 {
			if _, err := p.st.SetRemove(ctx, k, extra...); err != nil {
				return err
			}
		}
	}
	return nil
}

// resyncRosters brings the rosters of the rooms this process recorded, and
// of the rooms with presence events it has users in, to its tables; the
// sets of those rooms hold at least the users of the tables by now.
func (p *Presence) resyncRosters(ctx context.Context, rooms []roomID, want map[string][]string) error {
	entries, err := p.st.SetMembers(ctx, recordKey(p.id))
	if err != nil {
		return err
	}
	todo := make(map[roomID]struct{})
	for _, en := range entries {
		tok, id, ok := parseRecord(en)
		if !ok {
			continue
		}
		if tok != p.token {
			// A process that held this id before: gone (Claim reaps it).
			if err := p.reapRoom(ctx, p.id, tok, id); err != nil {
				return err
			}
			if _, err := p.st.SetRemove(ctx, recordKey(p.id), en); err != nil {
				return err
			}
			continue
		}
		todo[id] = struct{}{}
	}
	for _, id := range rooms {
		if p.events.ModeOf(id.ns, id.room) != ModeOff {
			todo[id] = struct{}{}
		}
	}
	for id := range todo {
		k := key(p.id, id.ns, id.room)
		local := want[k]
		cur, err := p.st.SetMembers(ctx, k)
		if err != nil {
			return err
		}
		if len(local) > 0 {
			if err := p.record(ctx, id); err != nil {
				return err
			}
		}
		p.mu.Lock()
		joined := p.joined[id]
		p.mu.Unlock()
		if err := p.events.Rebuild(ctx, id.ns, id.room, local, minus(cur, local), joined); err != nil {
			return err
		}
		if len(local) == 0 {
			if err := p.unrecord(ctx, id); err != nil {
				return err
			}
			continue
		}
		p.mu.Lock()
		for _, u := range local {
			p.rosters[id][u] = struct{}{}
		}
		p.mu.Unlock()
	}
	return nil
}

// minus returns the elements of a that are not in b.
func minus(a, b []string) []string {
	in := make(map[string]struct{}, len(b))
	for _, x := range b {
		in[x] = struct{}{}
	}
	var out []string
	for _, x := range a {
		if _, ok := in[x]; !ok {
			out = append(out, x)
		}
	}
	return out
}

func recordEntry(token string, id roomID) string { return token + "\n" + id.ns + "\n" + id.room }

func parseRecord(en string) (string, roomID, bool) {
	tok, rest, ok1 := strings.Cut(en, "\n")
	ns, room, ok2 := strings.Cut(rest, "\n")
	return tok, roomID{ns, room}, ok1 && ok2
}

// record notes, before this process first holds a user in a room's roster,
// that it may hold users there.
func (p *Presence) record(ctx context.Context, id roomID) error {
	p.mu.Lock()
	_, known := p.rosters[id]
	p.mu.Unlock()
	if known {
		return nil
	}
	if err := p.write(ctx, recordKey(p.id), recordEntry(p.token, id)); err != nil {
		return err
	}
	p.mu.Lock()
	p.rosters[id] = make(map[string]struct{})
	p.mu.Unlock()
	return nil
}

// hold notes that this process holds a user in a room's roster (or no
// longer does), and reports whether it holds nobody there any more.
func (p *Presence) hold(id roomID, user string, held bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	users := p.rosters[id]
	if users == nil {
		return !held
	}
	if held {
		users[user] = struct{}{}
		return false
	}
	delete(users, user)
	return len(users) == 0
}

// unrecord drops the note once this process holds nobody in the room.
func (p *Presence) unrecord(ctx context.Context, id roomID) error {
	if _, err := p.st.SetRemove(ctx, recordKey(p.id), recordEntry(p.token, id)); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.rosters, id)
	p.mu.Unlock()
	return nil
}

// reap removes every process that held an instance id from the rosters it
// recorded: the users of its set in each room, a superset of those it
// held there. Each room reaped leaves the record, so that a reap cut short
// (a dead instance with many rooms, a heartbeat's deadline) goes on where
// it stopped.
func (p *Presence) reap(ctx context.Context, id string) error {
	entries, err := p.st.SetMembers(ctx, recordKey(id))
	if err != nil {
		return err
	}
	for _, en := range entries {
		if tok, room, ok := parseRecord(en); ok {
			if err := p.reapRoom(ctx, id, tok, room); err != nil {
				return err
			}
		}
		// Done with this room: a reap cut short goes on from the next.
		if _, err := p.st.SetRemove(ctx, recordKey(id), en); err != nil {
			return err
		}
	}
	return nil
}

func (p *Presence) reapRoom(ctx context.Context, id, token string, room roomID) error {
	users, err := p.st.SetMembers(ctx, key(id, room.ns, room.room))
	if err != nil || len(users) == 0 {
		return err
	}
	if p.events != nil {
		return p.events.Reap(ctx, token, room.ns, room.room, users)
	}
	if r, ok := p.st.(store.Roster); ok {
		_, err = r.RosterRemove(ctx, RosterKey(room.ns, room.room), token, users...)
	}
	return err
}

// clear deletes an instance's entry, after reaping it from the rosters.
func (p *Presence) clear(ctx context.Context, id string) error {
	if err := p.reap(ctx, id); err != nil {
		return err
	}
	keys, err := p.st.SetMembers(ctx, presenceKeys(id))
	if err != nil {
		return err
	}
	keys = append(keys, presenceKeys(id), recordKey(id))
	return p.st.Delete(ctx, keys...)
}

func (p *Presence) write(ctx context.Context, key string, users ...string) error {
	if len(users) == 0 {
		return nil
	}
	p.mu.Lock()
	_, known := p.keys[key]
	p.mu.Unlock()
	if !known {
		if _, err := p.st.SetAdd(ctx, presenceKeys(p.id), key); err != nil {
			return err
		}
		p.mu.Lock()
		p.keys[key] = struct{}{}
		p.mu.Unlock()
	}
	_, err := p.st.SetAdd(ctx, key, users...)
	return err
}

// Sync brings the instance's entry for a user in a namespace (room "") or
// a room to its tables (Config.Local), and in a room with presence events,
// the room's roster too. Calls are ordered, and each applies the tables of
// the moment it runs, so calls that overtake one another still leave the
// entry right.
func (p *Presence) Sync(ns, room, user string) {
	if p.isDirty() {
		p.noteJoin(ns, room, user)
		return // the next heartbeat brings everything back
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	ctx, cancel := p.opCtx()
	defer cancel()
	if err := p.sync(ctx, ns, room, user); err != nil {
		p.markDirty()
		p.noteJoin(ns, room, user)
		p.cfg.Logger.Warn("realtime: presence write failed; will resync", "error", err)
	}
}

// noteJoin notes, while the instance is dirty, whether a user has joined a
// room with presence events here (see Events.Rebuild).
func (p *Presence) noteJoin(ns, room, user string) {
	if room == "" || p.events == nil || p.events.ModeOf(ns, room) == ModeOff {
		return
	}
	local := p.cfg.Local(ns, room, user)
	id := roomID{ns, room}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case local && p.joined == nil:
		p.joined = map[roomID]map[string]struct{}{id: {user: {}}}
	case local && p.joined[id] == nil:
		p.joined[id] = map[string]struct{}{user: {}}
	case local:
		p.joined[id][user] = struct{}{}
	default:
		delete(p.joined[id], user)
	}
}

func (p *Presence) sync(ctx context.Context, ns, room, user string) error {
	k := key(p.id, ns, room)
	id := roomID{ns, room}
	evented := room != "" && p.events != nil && p.events.ModeOf(ns, room) != ModeOff
	if p.cfg.Local(ns, room, user) {
		if err := p.write(ctx, k, user); err != nil || !evented {
			return err
		}
		if err := p.record(ctx, id); err != nil {
			return err
		}
		if err := p.events.Set(ctx, ns, room, []string{user}, nil); err != nil {
			return err
		}
		p.hold(id, user, true)
		return nil
	}
	if evented {
		if err := p.events.Set(ctx, ns, room, nil, []string{user}); err != nil {
			return err
		}
	}
	if _, err := p.st.SetRemove(ctx, k, user); err != nil || !evented || !p.hold(id, user, false) {
		return err
	}
	return p.unrecord(ctx, id)
}

// Users lists the users of a namespace (room "") or of a room over every
// live instance, sorted, deleting the entries of dead instances (with
// presence events, the heartbeat's sweep reaps them instead).
func (p *Presence) Users(ctx context.Context, ns, room string) ([]string, error) {
	ids, err := p.st.SetMembers(ctx, presenceInstances)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]struct{})
	for _, id := range ids {
		if _, err := p.st.Get(ctx, presenceAlive(id)); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			if id != p.id && p.events == nil {
				p.forget(ctx, id) // with presence events, the heartbeat's sweep does, announcing
			}
			continue
		}
		members, err := p.st.SetMembers(ctx, key(id, ns, room))
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			seen[m] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	sort.Strings(out)
	return out, nil
}

// sweep reaps the instances that died, then repairs the views of presence
// events.
func (p *Presence) sweep(ctx context.Context) error {
	ids, err := p.st.SetMembers(ctx, presenceInstances)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == p.id {
			continue
		}
		if _, err := p.st.Get(ctx, presenceAlive(id)); errors.Is(err, store.ErrNotFound) {
			p.forget(ctx, id)
		} else if err != nil {
			return err
		}
	}
	return p.events.Sweep(ctx)
}

// forget removes a dead instance's entry, and its users from the rosters.
// Errors are left for the next reader or heartbeat: the entry is ignored
// either way once its alive key is gone.
func (p *Presence) forget(ctx context.Context, id string) {
	if err := p.clear(ctx, id); err == nil {
		_, _ = p.st.SetRemove(ctx, presenceInstances, id)
	}
}

// Close stops the heartbeat, releases the instance id, and stops the
// presence events after the hook calls already queued (for up to a
// second).
func (p *Presence) Close() {
	close(p.stop)
	<-p.done
	p.Release()
	if p.events != nil {
		p.events.Close(time.Second)
	}
}

// Release removes the instance's entry and its alive key at once, unless
// another process holds the id.
func (p *Presence) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if v, err := p.st.Get(ctx, presenceAlive(p.id)); err == nil && !p.ours(v) {
		return
	}
	_ = p.clear(ctx, p.id)
	_ = p.st.Delete(ctx, presenceAlive(p.id))
	_, _ = p.st.SetRemove(ctx, presenceInstances, p.id)
}
