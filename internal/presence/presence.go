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
//	presence:alive:<id>            "<token> <beat>" with ttl PresenceTTL: the instance lives
//	presence:<id>:keys             set of the keys below, for cleanup
//	presence:<id>:ns:<ns>          set of user ids online in a namespace
//	presence:<id>:room:<ns>:<room> set of user ids in a room
//
// Staying alive costs one write per instance per period (ttl/3), whatever
// the number of sockets. A reader skips instances whose alive key expired and
// deletes what they left, so an instance that dies without a goodbye drops
// out within the ttl. A write that fails (Redis down) marks the instance
// dirty, and the next period rewrites its whole entry; so does finding its
// alive key gone (Redis restarted empty).
//
// The alive key also says which process holds the instance id: it holds a
// token drawn by the process and a beat number that each period increments.
// A process claims its id at start (see claim) and starts from a clean slate,
// deleting whatever an earlier holder of the id left.
type Presence struct {
	cfg   Config
	st    store.Store
	id    string
	ttl   time.Duration
	token string

	// writeMu orders writes: a resync and a socket's add or remove never
	// interleave, so a resync cannot bring back a user who just left.
	writeMu sync.Mutex
	mu      sync.Mutex
	dirty   bool
	keys    map[string]struct{} // own keys known to be registered

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
	return &Presence{
		cfg: cfg, st: cfg.Store, id: cfg.ID, ttl: cfg.TTL, token: uuid.NewString(),
		keys: make(map[string]struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

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
	return min(max(p.ttl/10, 10*time.Millisecond), 500*time.Millisecond)
}

// Claim makes this process the holder of its instance id and clears what an
// earlier holder left, before the instance serves anyone.
//
// When no process holds the id, claim takes it at once (atomically: of two
// processes starting together with one id, one gets it and the other sees
// it held). When the alive key is held, it is either a live process, which
// rewrites the key every ttl/3, or a process that died without a goodbye
// (a crash, a kill), whose key expires within the ttl. claim watches the
// key: if it changes, claim fails with ErrInstanceIDInUse; if it expires,
// claim takes the id. So a process restarted with the id of one that
// crashed starts at most one ttl after the crash, the moment the rest of the
// cluster considers the crashed one dead, and says so in the log. ctx bounds
// the wait.
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
				"instance", p.id, "upTo", p.ttl.String())
		case !bytes.Equal(v, seen):
			return fmt.Errorf("%w: %q (its registration is being refreshed); "+
				"give every instance a unique Config.InstanceID, or leave it empty for a random one", ErrInstanceIDInUse, p.id)
		}
		if claiming(v) {
			if _, err := p.st.Expire(ctx, presenceAlive(p.id), p.ttl); err != nil {
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
	return true, p.st.Set(ctx, presenceAlive(p.id), p.aliveValue(), p.ttl)
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
	t := time.NewTicker(p.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), p.ttl/3)
			if err := p.beat(ctx); err != nil {
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
		_, err := p.st.Expire(ctx, presenceAlive(p.id), p.ttl)
		return err
	case !p.ours(v):
		p.usurp()
		return nil
	default:
		p.beats++
		if err := p.st.Set(ctx, presenceAlive(p.id), p.aliveValue(), p.ttl); err != nil {
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

// resync replaces the instance's entry with its local tables.
func (p *Presence) resync(ctx context.Context) error {
	if err := p.clear(ctx, p.id); err != nil {
		return err
	}
	p.mu.Lock()
	p.keys = make(map[string]struct{})
	p.mu.Unlock()
	for _, e := range p.cfg.Snapshot() {
		if err := p.write(ctx, key(p.id, e.NS, e.Room), e.Users...); err != nil {
			return err
		}
	}
	return nil
}

// clear deletes an instance's entry.
func (p *Presence) clear(ctx context.Context, id string) error {
	keys, err := p.st.SetMembers(ctx, presenceKeys(id))
	if err != nil {
		return err
	}
	keys = append(keys, presenceKeys(id))
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

// Add records that a user came online here in a namespace (room "") or a
// room.
func (p *Presence) Add(ns, room, user string) {
	if p.isDirty() {
		return // the next heartbeat rewrites everything
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	ctx, cancel := p.opCtx()
	defer cancel()
	if err := p.write(ctx, key(p.id, ns, room), user); err != nil {
		p.markDirty()
		p.cfg.Logger.Warn("realtime: presence write failed; will resync", "error", err)
	}
}

// Remove records that a user has no socket left here in a namespace (room
// "") or a room.
func (p *Presence) Remove(ns, room, user string) {
	if p.isDirty() {
		return
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	ctx, cancel := p.opCtx()
	defer cancel()
	if _, err := p.st.SetRemove(ctx, key(p.id, ns, room), user); err != nil {
		p.markDirty()
		p.cfg.Logger.Warn("realtime: presence write failed; will resync", "error", err)
	}
}

// Users lists the users of a namespace (room "") or of a room over every
// live instance, sorted, deleting the entries of dead instances.
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
			if id != p.id {
				p.forget(ctx, id)
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

// forget removes a dead instance's entry. Errors are left for the next
// reader: the entry is ignored either way once its alive key is gone.
func (p *Presence) forget(ctx context.Context, id string) {
	if err := p.clear(ctx, id); err == nil {
		_, _ = p.st.SetRemove(ctx, presenceInstances, id)
	}
}

// Close stops the heartbeat and releases the instance id.
func (p *Presence) Close() {
	close(p.stop)
	<-p.done
	p.Release()
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
