// Package cluster wires the Redis backends of a realtime cluster from one
// URL: the shared store (store/redis), the broker that carries emits between
// instances (broadcast/redis), and through them presence and ToUser across
// instances. It is for running several instances behind a load balancer;
// a single instance needs none of it.
//
//	backends, err := cluster.Redis(ctx, os.Getenv("REDIS_URL"), cluster.Options{})
//	if err != nil {
//		log.Fatal(err) // names the problem: missing, malformed or unreachable
//	}
//	defer backends.Close()
//	cfg := realtime.Config{}
//	backends.Configure(&cfg)
//	mux := realtime.New(cfg)
//
// # URLs
//
// The URL is go-redis's syntax: redis://[user:password@]host:port/db, or
// rediss:// for TLS, with options as query parameters (dial_timeout=3s,
// pool_size=20, ...). Two additions choose the deployment:
//
//   - addr=host:port (repeatable) lists more nodes: a Redis Cluster, reached
//     through every node given (the host of the URL included);
//   - master_name=name: a Sentinel setup, where the URL's host (and any addr
//     parameters) are the sentinels.
//
// For anything else, build a redis.UniversalClient yourself and call
// FromClient.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/broadcast"
	bredis "github.com/lolyjs/realtime/broadcast/redis"
	"github.com/lolyjs/realtime/history"
	hredis "github.com/lolyjs/realtime/history/redis"
	"github.com/lolyjs/realtime/store"
	sredis "github.com/lolyjs/realtime/store/redis"
)

// EnvRedisURL is the environment variable that FromEnv reads.
const EnvRedisURL = "REDIS_URL"

// Options configures the backends.
type Options struct {
	// Prefix is the key and channel prefix shared by the instances of one
	// cluster (default "loly:rt:"; with Sharded, "{loly:rt}:"). Two
	// clusters on one Redis need different prefixes.
	Prefix string
	// Sharded uses sharded pub/sub (SPUBLISH/SSUBSCRIBE), for Redis Cluster.
	Sharded bool
	// ConnectTimeout bounds the check that Redis answers (default 3s).
	ConnectTimeout time.Duration
}

// Backends are the Redis-backed parts of a cluster instance. Close releases
// them once the mux has shut down.
type Backends struct {
	// Client is the Redis client the backends share.
	Client goredis.UniversalClient
	// Store is the shared state store.
	Store store.Store
	// Broker carries emits between instances.
	Broker broadcast.Broker
	// History is the log of the rooms that keep history, on Redis Streams,
	// publishing on Broker's channels.
	History history.Log

	ownsClient bool
}

// Configure makes cfg an instance of the cluster: it sets its Store,
// Broker and History to these backends.
func (b *Backends) Configure(cfg *realtime.Config) {
	cfg.Store = b.Store
	cfg.Broker = b.Broker
	cfg.History = b.History
}

// Close closes the broker, the store and, when Redis built it, the client.
func (b *Backends) Close() error {
	errs := []error{b.Broker.Close(), b.Store.Close(), b.History.Close()}
	if b.ownsClient {
		errs = append(errs, b.Client.Close())
	}
	return errors.Join(errs...)
}

// FromEnv is Redis with the URL in the REDIS_URL environment variable.
func FromEnv(ctx context.Context, opts Options) (*Backends, error) {
	return Redis(ctx, os.Getenv(EnvRedisURL), opts)
}

// Redis connects to the Redis of rawURL, checks that it answers, and returns
// the backends built on it. Its errors name the problem and the fix: a
// missing URL, a malformed one, or a Redis that does not answer. Passwords
// never appear in them.
func Redis(ctx context.Context, rawURL string, opts Options) (*Backends, error) {
	client, err := NewClient(rawURL)
	if err != nil {
		return nil, err
	}
	b, err := FromClient(ctx, client, opts)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%w (REDIS_URL %s)", err, redact(rawURL))
	}
	b.ownsClient = true
	return b, nil
}

// FromClient builds the backends on a client the caller owns (Close leaves
// it open), after checking that Redis answers.
func FromClient(ctx context.Context, client goredis.UniversalClient, opts Options) (*Backends, error) {
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("cluster: Redis is unreachable: %w; start it or fix the address", err)
	}
	st, err := sredis.New(client, sredis.Options{Prefix: storePrefix(opts)})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	br, err := bredis.New(client, bredis.Options{Prefix: opts.Prefix, Sharded: opts.Sharded})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	channels := opts.Prefix
	if channels == "" {
		channels = bredis.DefaultPrefix
		if opts.Sharded {
			channels = bredis.DefaultShardedPrefix
		}
	}
	// Sharded, the log's keys carry the channels' hash tag, so that an
	// append and its SPUBLISH happen on one shard.
	keys := storePrefix(opts)
	if opts.Sharded {
		keys = channels
	}
	log, err := hredis.New(client, hredis.Options{Prefix: keys, ChannelPrefix: channels, Sharded: opts.Sharded})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &Backends{Client: client, Store: st, Broker: br, History: log}, nil
}

// storePrefix keeps store keys apart from pub/sub channels; a hash tag in a
// sharded prefix is dropped from store keys so that they spread over the
// cluster's slots.
func storePrefix(opts Options) string {
	if opts.Prefix == "" {
		return sredis.DefaultPrefix
	}
	p := opts.Prefix
	out := make([]rune, 0, len(p))
	for _, r := range p {
		if r != '{' && r != '}' {
			out = append(out, r)
		}
	}
	return string(out)
}

// NewClient builds a Redis client from a URL (see the package doc). It does
// not contact Redis.
func NewClient(rawURL string) (goredis.UniversalClient, error) {
	if rawURL == "" {
		return nil, errors.New("cluster: REDIS_URL is empty: cluster mode needs Redis; set it, for example REDIS_URL=redis://127.0.0.1:6379/0")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("cluster: REDIS_URL %q is not a redis:// or rediss:// URL with a host, like redis://127.0.0.1:6379/0", redact(rawURL))
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := goredis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, malformed(rawURL, err)
		}
		return goredis.NewFailoverClient(o), nil
	case q.Has("addr"):
		o, err := goredis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, malformed(rawURL, err)
		}
		return goredis.NewClusterClient(o), nil
	default:
		o, err := goredis.ParseURL(rawURL)
		if err != nil {
			return nil, malformed(rawURL, err)
		}
		return goredis.NewClient(o), nil
	}
}

func malformed(rawURL string, err error) error {
	return fmt.Errorf("cluster: REDIS_URL %s is malformed: %v", redact(rawURL), err)
}

// redact hides the password of a URL.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
