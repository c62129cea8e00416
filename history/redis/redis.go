// Package redis is a history.Log on Redis Streams, for the instances of a
// cluster that share one Redis: each room's messages are a stream, trimmed
// to its size and expiring with its TTL, and each append is one Lua script
// that also publishes the message's frame on the room's broadcast/redis
// channel, so that the history and the live messages have one order.
//
// Keys, under Options.Prefix: "hist:{<ns>}" holds a namespace's epoch and
// last sequence number; "hist:{<ns>}:s:<room>" is a room's stream, its
// entries' ids "0-<seq>"; "hist:{<ns>}:m:<room>" holds the room's last and
// last-trimmed sequence numbers, and outlives the stream by a day, so that a
// client that comes back after a room expired is told its messages are
// gone. The hash tag keeps a namespace's keys in one slot of a Redis
// Cluster. A Redis that restarts empty loses the epoch: the next append
// starts a new one, and positions from before are refused.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime/history"
)

// Defaults for Options.
const (
	DefaultPrefix        = "loly:rt:"
	DefaultChannelPrefix = "loly:rt:"
)

// metaTTL is how long a room's markers outlive its last append.
const metaTTL = 24 * time.Hour

// Options configure a Log.
type Options struct {
	// Prefix is prepended to every key (default DefaultPrefix).
	Prefix string
	// ChannelPrefix and Sharded must match the broadcast/redis broker of
	// the cluster: a topic's channel is ChannelPrefix+topic, published with
	// SPUBLISH when Sharded.
	ChannelPrefix string
	Sharded       bool
}

// Log is a history.Log on Redis. Its methods are safe for concurrent use.
type Log struct {
	client goredis.UniversalClient
	opts   Options
	closed chan struct{}
}

var _ history.Log = (*Log)(nil)

// New returns a log on client; it does not contact Redis, and Close does
// not close client.
func New(client goredis.UniversalClient, opts Options) (*Log, error) {
	if client == nil {
		return nil, errors.New("history/redis: nil client")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = DefaultChannelPrefix
	}
	return &Log{client: client, opts: opts, closed: make(chan struct{})}, nil
}

func (l *Log) keys(ns, room string) []string {
	base := l.opts.Prefix + "hist:{" + ns + "}"
	return []string{base, base + ":s:" + room, base + ":m:" + room}
}

func (l *Log) check(ctx context.Context) error {
	select {
	case <-l.closed:
		return errors.New("history/redis: log closed")
	default:
	}
	return ctx.Err()
}

// appendScript appends, trims, expires and publishes, in one step.
// KEYS: namespace, stream, room markers. ARGV: payload, size, ttl ms, markers
// ttl ms, a fresh epoch, publish command ("" for none), channel.
var appendScript = goredis.NewScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local prev = 0
if redis.call('HGET', KEYS[3], 'epoch') == epoch then
  prev = tonumber(redis.call('HGET', KEYS[3], 'last') or '0')
else
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'trim', 0)
end
redis.call('XADD', KEYS[2], '0-' .. seq, 'd', ARGV[1])
local size = tonumber(ARGV[2])
local n = redis.call('XLEN', KEYS[2])
if n > size then
  local old = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', n - size)
  redis.call('XTRIM', KEYS[2], 'MAXLEN', size)
  redis.call('HSET', KEYS[3], 'trim', string.sub(old[#old][1], 3))
end
redis.call('HSET', KEYS[3], 'last', seq)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
if ARGV[6] ~= '' then
  redis.call(ARGV[6], ARGV[7], '\0H' .. epoch .. ' ' .. seq .. ' ' .. prev .. '\n' .. ARGV[1])
end
return {epoch, seq, prev}
`)

// Append adds a message and, with a topic, publishes its frame in the same
// script.
func (l *Log) Append(ctx context.Context, ns, room string, payload []byte, keep history.Keep, topic string) (history.Position, uint64, error) {
	if err := l.check(ctx); err != nil {
		return history.Position{}, 0, err
	}
	cmd, channel := "", ""
	if topic != "" {
		cmd, channel = "PUBLISH", l.opts.ChannelPrefix+topic
		if l.opts.Sharded {
			cmd = "SPUBLISH"
		}
	}
	ttl := max(keep.TTL, time.Millisecond)
	res, err := appendScript.Run(ctx, l.client, l.keys(ns, room), payload, max(keep.Size, 1), ttl.Milliseconds(),
		max(ttl, metaTTL).Milliseconds(), history.NewEpoch(), cmd, channel).Slice()
	if err != nil {
		return history.Position{}, 0, fmt.Errorf("history/redis: append: %w", err)
	}
	if len(res) != 3 {
		return history.Position{}, 0, fmt.Errorf("history/redis: append: unexpected reply %v", res)
	}
	epoch, _ := res[0].(string)
	seq, _ := res[1].(int64)
	prev, _ := res[2].(int64)
	return history.Position{Epoch: epoch, Seq: uint64(seq)}, uint64(prev), nil
}

// lastScript returns the namespace's epoch and last sequence number,
// making the epoch when there is none yet. KEYS: namespace. ARGV: a fresh
// epoch.
var lastScript = goredis.NewScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'seq'))}
`)

// Last returns the namespace's current position.
func (l *Log) Last(ctx context.Context, ns string) (history.Position, error) {
	if err := l.check(ctx); err != nil {
		return history.Position{}, err
	}
	res, err := lastScript.Run(ctx, l.client, l.keys(ns, "")[:1], history.NewEpoch()).Slice()
	if err != nil {
		return history.Position{}, fmt.Errorf("history/redis: last: %w", err)
	}
	if len(res) != 2 {
		return history.Position{}, fmt.Errorf("history/redis: last: unexpected reply %v", res)
	}
	epoch, _ := res[0].(string)
	seq, _ := res[1].(int64)
	return history.Position{Epoch: epoch, Seq: uint64(seq)}, nil
}

// readScript checks a position and returns the entries after it, or the
// name of the error; with no epoch, every entry kept. KEYS: namespace,
// stream, room markers. ARGV: epoch, after, upto ("+" for none).
var readScript = goredis.NewScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if ARGV[1] == '' then
  if not epoch or redis.call('HGET', KEYS[3], 'epoch') ~= epoch then return {} end
  return redis.call('XRANGE', KEYS[2], '-', ARGV[3])
end
if epoch ~= ARGV[1] then return 'epoch' end
local after = tonumber(ARGV[2])
if after > tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') then return 'future' end
if redis.call('HGET', KEYS[3], 'epoch') ~= epoch then return {} end
local last = tonumber(redis.call('HGET', KEYS[3], 'last') or '0')
if last <= after then return {} end
local trim = tonumber(redis.call('HGET', KEYS[3], 'trim') or '0')
if trim > after or redis.call('EXISTS', KEYS[2]) == 0 then return 'gone' end
return redis.call('XRANGE', KEYS[2], '(0-' .. after, ARGV[3])
`)

// Read returns a room's entries after a position.
func (l *Log) Read(ctx context.Context, ns, room string, after history.Position, upto uint64) ([]history.Entry, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	end := "+"
	if upto > 0 {
		end = "0-" + strconv.FormatUint(upto, 10)
	}
	v, err := readScript.Run(ctx, l.client, l.keys(ns, room), after.Epoch, after.Seq, end).Result()
	if err != nil {
		return nil, fmt.Errorf("history/redis: read: %w", err)
	}
	switch v {
	case "epoch":
		return nil, history.ErrEpoch
	case "future":
		return nil, history.ErrFuture
	case "gone":
		return nil, history.ErrGone
	}
	raw, _ := v.([]any)
	out := make([]history.Entry, 0, len(raw))
	for _, item := range raw {
		e, _ := item.([]any)
		if len(e) != 2 {
			continue
		}
		id, _ := e[0].(string)
		seq, perr := strconv.ParseUint(id[min(2, len(id)):], 10, 64)
		fields, _ := e[1].([]any)
		if perr != nil || len(fields) != 2 {
			continue
		}
		data, _ := fields[1].(string)
		out = append(out, history.Entry{Seq: seq, Payload: []byte(data)})
	}
	return out, nil
}

// Close makes the log's methods fail; the client stays open.
func (l *Log) Close() error {
	select {
	case <-l.closed:
		return errors.New("history/redis: log closed")
	default:
		close(l.closed)
		return nil
	}
}
