package realtime

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/lolyjs/realtime/store"
)

// presence publishes who is online on this instance into the shared Store, so
// that every instance of a cluster can list the users of a namespace or a
// room. It is used only when the mux has a Broker (a cluster); a single
// instance answers from its own tables.
//
// Layout, all under the store's own prefix:
//
//	presence:instances             set of instance ids
//	presence:alive:<id>            "1" with ttl PresenceTTL: the instance lives
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
type presence struct {
	srv *server
	st  store.Store
	id  string
	ttl time.Duration

	// writeMu orders writes: a resync and a socket's add or remove never
	// interleave, so a resync cannot bring back a user who just left.
	writeMu sync.Mutex
	mu      sync.Mutex
	dirty   bool
	keys    map[string]struct{} // own keys known to be registered

	stop chan struct{}
	done chan struct{}
}

const presenceInstances = "presence:instances"

func presenceAlive(id string) string          { return "presence:alive:" + id }
func presenceKeys(id string) string           { return "presence:" + id + ":keys" }
func presenceNS(id, ns string) string         { return "presence:" + id + ":ns:" + ns }
func presenceRoom(id, ns, room string) string { return "presence:" + id + ":room:" + ns + ":" + room }

func newPresence(s *server) *presence {
	return &presence{
		srv: s, st: s.store, id: s.id, ttl: s.cfg.PresenceTTL,
		keys: make(map[string]struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

func (p *presence) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Second)
}

// start registers the instance and starts the heartbeat.
func (p *presence) start(ctx context.Context) error {
	if err := p.beat(ctx); err != nil {
		return err
	}
	go p.loop()
	return nil
}

func (p *presence) loop() {
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
				p.srv.cfg.Logger.Warn("realtime: presence heartbeat failed", "instance", p.id, "error", err)
			}
			cancel()
		}
	}
}

// beat refreshes the alive key, and rewrites the instance's entry when a
// write failed or the store lost it.
func (p *presence) beat(ctx context.Context) error {
	_, err := p.st.Get(ctx, presenceAlive(p.id))
	lost := errors.Is(err, store.ErrNotFound)
	if err != nil && !lost {
		p.markDirty()
		return err
	}
	if err := p.st.Set(ctx, presenceAlive(p.id), []byte("1"), p.ttl); err != nil {
		p.markDirty()
		return err
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

func (p *presence) isDirty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirty
}

func (p *presence) markDirty() {
	p.mu.Lock()
	p.dirty = true
	p.mu.Unlock()
}

// resync replaces the instance's entry with its local tables.
func (p *presence) resync(ctx context.Context) error {
	if err := p.clear(ctx, p.id); err != nil {
		return err
	}
	p.mu.Lock()
	p.keys = make(map[string]struct{})
	p.mu.Unlock()
	for _, name := range p.srv.order {
		ns := p.srv.namespaces[name]
		snapshot := ns.presenceSnapshot()
		for key, users := range snapshot {
			if err := p.write(ctx, key, users...); err != nil {
				return err
			}
		}
	}
	return nil
}

// clear deletes an instance's entry.
func (p *presence) clear(ctx context.Context, id string) error {
	keys, err := p.st.SetMembers(ctx, presenceKeys(id))
	if err != nil {
		return err
	}
	keys = append(keys, presenceKeys(id))
	return p.st.Delete(ctx, keys...)
}

func (p *presence) write(ctx context.Context, key string, users ...string) error {
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

// add records that a user came online in a namespace or room here.
func (p *presence) add(key, user string) {
	if p.isDirty() {
		return // the next heartbeat rewrites everything
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	ctx, cancel := p.opCtx()
	defer cancel()
	if err := p.write(ctx, key, user); err != nil {
		p.markDirty()
		p.srv.cfg.Logger.Warn("realtime: presence write failed; will resync", "error", err)
	}
}

// remove records that a user has no socket left in a namespace or room here.
func (p *presence) remove(key, user string) {
	if p.isDirty() {
		return
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	ctx, cancel := p.opCtx()
	defer cancel()
	if _, err := p.st.SetRemove(ctx, key, user); err != nil {
		p.markDirty()
		p.srv.cfg.Logger.Warn("realtime: presence write failed; will resync", "error", err)
	}
}

// users lists the users of a namespace (room == "" and !isRoom) or of a
// room, over every live instance, deleting the entries of dead ones.
func (p *presence) users(ctx context.Context, ns string, kind byte, name string) ([]string, error) {
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
		// A user (topicUser) is online when listed in the namespace anywhere.
		key := presenceNS(id, ns)
		if kind == topicRoom {
			key = presenceRoom(id, ns, name)
		}
		members, err := p.st.SetMembers(ctx, key)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if kind == topicUser && m != name {
				continue
			}
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
func (p *presence) forget(ctx context.Context, id string) {
	if err := p.clear(ctx, id); err == nil {
		_, _ = p.st.SetRemove(ctx, presenceInstances, id)
	}
}

// close stops the heartbeat and removes the instance's entry at once.
func (p *presence) close() {
	close(p.stop)
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.clear(ctx, p.id)
	_ = p.st.Delete(ctx, presenceAlive(p.id))
	_, _ = p.st.SetRemove(ctx, presenceInstances, p.id)
}
