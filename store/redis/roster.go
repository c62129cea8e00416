package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime/store"
)

var _ store.Roster = (*Store)(nil)

// A roster is one hash, so that one script changes it atomically on a Redis
// Cluster too: "#e" is the epoch, "#v" the version, "#n" the count, and
// "u<member>" is each member present, as "<version it appeared>\n<holder>
// \n<holder>...".
//
// rosterScript adds (ARGV[1] "a"), restores ("s") or removes ("r") holder
// ARGV[2] for the members ARGV[4:], and returns the epoch, the version, the
// count and the members that appeared or disappeared, each followed by its
// version. A new
// roster's epoch is the server's TIME in microseconds; an empty one expires
// after ARGV[3] milliseconds. Versions are formatted with %d: Lua 5.1 would
// print a large number with an exponent.
var rosterScript = goredis.NewScript(`
local k, op, h = KEYS[1], ARGV[1], ARGV[2]
local e = redis.call('HGET', k, '#e')
if not e then
	if op == 'r' or #ARGV < 4 then
		return {'0', '0', '0'}
	end
	local t = redis.call('TIME')
	e = t[1] .. string.format('%06d', tonumber(t[2]))
	redis.call('HSET', k, '#e', e, '#v', '0', '#n', '0')
end
local v = tonumber(redis.call('HGET', k, '#v'))
local n = tonumber(redis.call('HGET', k, '#n'))
local out = {e, '', ''}
for i = 4, #ARGV do
	local f = 'u' .. ARGV[i]
	local cur = redis.call('HGET', k, f)
	if op ~= 'r' then
		if not cur then
			v = v + 1
			n = n + 1
			local since = string.format('%d', v)
			if op == 's' then
				since = '0'
			end
			redis.call('HSET', k, f, since .. '\n' .. h)
			out[#out + 1] = ARGV[i]
			out[#out + 1] = string.format('%d', v)
		elseif not string.find(cur .. '\n', '\n' .. h .. '\n', 1, true) then
			redis.call('HSET', k, f, cur .. '\n' .. h)
		end
	elseif cur then
		local since, rest, found = nil, {}, false
		for part in string.gmatch(cur, '[^\n]+') do
			if since == nil then
				since = part
			elseif part == h then
				found = true
			else
				rest[#rest + 1] = part
			end
		end
		if found then
			if #rest == 0 then
				redis.call('HDEL', k, f)
				v = v + 1
				n = n - 1
				out[#out + 1] = ARGV[i]
				out[#out + 1] = string.format('%d', v)
			else
				redis.call('HSET', k, f, since .. '\n' .. table.concat(rest, '\n'))
			end
		end
	end
end
redis.call('HSET', k, '#v', string.format('%d', v), '#n', string.format('%d', n))
if n == 0 then
	redis.call('PEXPIRE', k, ARGV[3])
else
	redis.call('PERSIST', k)
end
out[2] = string.format('%d', v)
out[3] = string.format('%d', n)
return out
`)

// rosterBatch is how many members one script call takes: Lua's unpack and
// a script's run time both grow with it.
const rosterBatch = 500

// RosterAdd makes holder a holder of each member, creating the roster at
// key when it is missing, in a script; see store.Roster. More than 500
// members take several scripts, each atomic.
func (s *Store) RosterAdd(ctx context.Context, key, holder string, members ...string) (store.RosterState, error) {
	return s.roster(ctx, "a", key, holder, members)
}

// RosterRestore is RosterAdd for members that were there before the
// roster was lost, in a script; see store.Roster.
func (s *Store) RosterRestore(ctx context.Context, key, holder string, members ...string) (store.RosterState, error) {
	return s.roster(ctx, "s", key, holder, members)
}

// RosterRemove takes holder away from each member of the roster at key, in
// a script; see store.Roster.
func (s *Store) RosterRemove(ctx context.Context, key, holder string, members ...string) (store.RosterState, error) {
	return s.roster(ctx, "r", key, holder, members)
}

func (s *Store) roster(ctx context.Context, op, key, holder string, members []string) (store.RosterState, error) {
	if err := store.CheckHolder(holder); err != nil {
		return store.RosterState{}, err
	}
	if err := s.check(ctx); err != nil {
		return store.RosterState{}, err
	}
	idle := strconv.FormatInt(store.RosterIdleTTL.Milliseconds(), 10)
	var st store.RosterState
	for first := true; first || len(members) > 0; first = false {
		batch := members[:min(len(members), rosterBatch)]
		members = members[len(batch):]
		args := make([]any, 0, 3+len(batch))
		args = append(args, op, holder, idle)
		for _, m := range batch {
			args = append(args, m)
		}
		res, err := rosterScript.Run(ctx, s.client, []string{s.key(key)}, args...).StringSlice()
		if err != nil {
			return store.RosterState{}, fail(ctx, "roster", key, err)
		}
		changes := st.Changes
		if st, err = parseRoster(res); err != nil {
			return store.RosterState{}, fail(ctx, "roster", key, err)
		}
		st.Changes = append(changes, st.Changes...)
	}
	return st, nil
}

func parseRoster(res []string) (store.RosterState, error) {
	if len(res) < 3 || len(res)%2 == 0 {
		return store.RosterState{}, fmt.Errorf("unexpected reply of %d elements", len(res))
	}
	var nums [3]int64
	for i := range nums {
		n, err := strconv.ParseInt(res[i], 10, 64)
		if err != nil {
			return store.RosterState{}, fmt.Errorf("unexpected reply %q", res[i])
		}
		nums[i] = n
	}
	st := store.RosterState{Epoch: nums[0], Version: nums[1], Count: int(nums[2])}
	for i := 3; i < len(res); i += 2 {
		v, err := strconv.ParseInt(res[i+1], 10, 64)
		if err != nil {
			return store.RosterState{}, fmt.Errorf("unexpected version %q", res[i+1])
		}
		st.Changes = append(st.Changes, store.RosterChange{Member: res[i], Version: v})
	}
	return st, nil
}

// RosterStates reads each roster's epoch, version and count with HMGET, in
// one pipeline; see store.Roster.
func (s *Store) RosterStates(ctx context.Context, keys ...string) ([]store.RosterState, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]store.RosterState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cmds := make([]*goredis.SliceCmd, len(keys))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, s.key(k), "#e", "#v", "#n")
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fail(ctx, "roster states", keys[0], err)
	}
	for i, c := range cmds {
		vals, err := c.Result()
		if err != nil {
			return nil, fail(ctx, "roster states", keys[i], err)
		}
		var nums [3]int64
		for j, v := range vals {
			if str, ok := v.(string); ok {
				nums[j], _ = strconv.ParseInt(str, 10, 64)
			}
		}
		out[i] = store.RosterState{Epoch: nums[0], Version: nums[1], Count: int(nums[2])}
	}
	return out, nil
}

// RosterMembers reads a roster with HGETALL; see store.Roster.
func (s *Store) RosterMembers(ctx context.Context, key string) (store.RosterState, map[string]int64, error) {
	if err := s.check(ctx); err != nil {
		return store.RosterState{}, nil, err
	}
	all, err := s.client.HGetAll(ctx, s.key(key)).Result()
	if err != nil {
		return store.RosterState{}, nil, fail(ctx, "roster members", key, err)
	}
	var st store.RosterState
	members := make(map[string]int64, len(all))
	for f, v := range all {
		switch {
		case f == "#e":
			st.Epoch, _ = strconv.ParseInt(v, 10, 64)
		case f == "#v":
			st.Version, _ = strconv.ParseInt(v, 10, 64)
		case strings.HasPrefix(f, "u"):
			since, _, _ := strings.Cut(v, "\n")
			members[f[1:]], _ = strconv.ParseInt(since, 10, 64)
		}
	}
	st.Count = len(members)
	return st, members, nil
}
