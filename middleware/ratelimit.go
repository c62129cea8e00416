package middleware

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/ulule/limiter/v3"
	"golang.org/x/time/rate"

	"github.com/lolyjs/realtime"
)

// RateLimitOpts configures RateLimit. The zero value limits each socket to
// the mux's Config.Limits (loly's 30 events per second, burst 60) and each
// event to its route's Event.RateLimit.
type RateLimitOpts struct {
	// PerSocket is the token bucket every socket has for all its events
	// together. Nil means the mux's Config.Limits; a negative
	// EventsPerSecond turns it off.
	PerSocket *realtime.Rate

	// Cluster, when set, also counts events under a key shared by every
	// instance (by default the user's id, or the client address for
	// anonymous sockets), so a user on five sockets across three instances
	// is counted once.
	Cluster *ClusterLimit

	// AbuseThreshold is how many refusals within AbuseWindow close the
	// socket with 1008 (policy violation). Default 500 in 10 s; a negative
	// threshold never closes.
	AbuseThreshold int
	AbuseWindow    time.Duration

	// BurstFactor sizes the bucket of a Rate whose Burst is zero (the
	// route's Event.RateLimit or PerSocket): EventsPerSecond times
	// BurstFactor, rounded up, at least 1. Zero means 1, a burst of one
	// second's events; loly used 2 (see the loly package).
	BurstFactor float64
}

// ClusterLimit is a limit shared by the instances of a cluster, on
// github.com/ulule/limiter/v3 (a fixed window, like "100-M"), with its memory
// store for one instance or its Redis store for many.
type ClusterLimit struct {
	// Limiter counts the events. Required.
	Limiter *limiter.Limiter
	// Key names the counter an event belongs to. Nil means the user's id,
	// or "ip:" and the client address for anonymous sockets.
	Key func(c *realtime.Ctx) string
}

// RateLimit refuses events over their limits with RATE_LIMIT, whose details
// carry retryAfterMs and the limit that refused: "socket", "event" or
// "cluster". For each client event it checks, in this order, the
// socket's own bucket, the event's bucket on that socket (the route's
// Event.RateLimit), and the cluster-wide limit. Limits live on the socket and
// are freed with it. Lifecycle events pass. It enforces
// realtime.SettingRateLimit.
//
// When the cluster limiter's store fails (Redis down), the event is let
// through and the failure logged: an outage of the shared counter must not
// stop the instance serving.
func RateLimit(opts RateLimitOpts) func(realtime.Handler) realtime.Handler {
	if !(opts.BurstFactor > 0) {
		opts.BurstFactor = 1
	}
	if opts.AbuseThreshold == 0 {
		opts.AbuseThreshold = 500
	}
	if opts.AbuseWindow <= 0 {
		opts.AbuseWindow = 10 * time.Second
	}
	rl := &rateLimiter{opts: opts}
	return realtime.Enforces(func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() != realtime.KindEvent {
				return next(c)
			}
			if err := rl.allow(c); err != nil {
				return err
			}
			return next(c)
		}
	}, realtime.SettingRateLimit)
}

type rateLimiter struct {
	opts RateLimitOpts
}

// socketLimits is one socket's limiter state, kept in Socket.SetLocal.
type socketLimits struct {
	mu          sync.Mutex
	socket      *rate.Limiter
	events      map[string]*rate.Limiter
	windowStart time.Time
	refusals    int
}

type limitsKey struct{ rl *rateLimiter }

func newBucket(r realtime.Rate, factor float64) *rate.Limiter {
	burst := r.Burst
	if burst <= 0 {
		burst = int(math.Ceil(r.EventsPerSecond * factor))
		if burst < 1 {
			burst = 1
		}
	}
	return rate.NewLimiter(rate.Limit(r.EventsPerSecond), burst)
}

func (rl *rateLimiter) limits(c *realtime.Ctx) *socketLimits {
	sock := c.Socket()
	key := limitsKey{rl}
	if v, ok := sock.Local(key).(*socketLimits); ok {
		return v
	}
	sl := &socketLimits{}
	per := rl.opts.PerSocket
	if per == nil {
		l := c.Socket().Limits()
		per = &realtime.Rate{EventsPerSecond: l.EventsPerSecond, Burst: l.Burst}
	}
	if per.EventsPerSecond > 0 {
		sl.socket = newBucket(*per, rl.opts.BurstFactor)
	}
	sock.SetLocal(key, sl)
	return sl
}

func (rl *rateLimiter) allow(c *realtime.Ctx) error {
	sl := rl.limits(c)
	now := time.Now()
	sl.mu.Lock()
	wait, refused, scope := time.Duration(0), false, "socket"
	if sl.socket != nil && !sl.socket.AllowN(now, 1) {
		wait, refused = delay(sl.socket, now), true
	}
	if ep := c.Endpoint(); !refused && ep != nil && ep.RateLimit != nil {
		b := sl.events[c.Event()]
		if b == nil {
			if sl.events == nil {
				sl.events = make(map[string]*rate.Limiter)
			}
			b = newBucket(*ep.RateLimit, rl.opts.BurstFactor)
			sl.events[c.Event()] = b
		}
		if !b.AllowN(now, 1) {
			wait, refused, scope = delay(b, now), true, "event"
		}
	}
	sl.mu.Unlock()
	if !refused && rl.opts.Cluster != nil {
		wait, refused = rl.clusterAllow(c, now)
		scope = "cluster"
	}
	if !refused {
		return nil
	}
	e := &realtime.Error{Code: realtime.CodeRateLimit, Message: realtime.ErrRateLimited.Message,
		Details: map[string]any{
			"retryAfterMs": int64(math.Ceil(float64(wait) / float64(time.Millisecond))),
			"limit":        scope,
		}}
	if rl.abusive(sl, now) {
		// The client gets this refusal, then the close.
		e.Close = realtime.ClosePolicy
	}
	return e
}

// delay is how long until b has a token again.
func delay(b *rate.Limiter, now time.Time) time.Duration {
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

func (rl *rateLimiter) clusterAllow(c *realtime.Ctx, now time.Time) (time.Duration, bool) {
	cl := rl.opts.Cluster
	key := ""
	if cl.Key != nil {
		key = cl.Key(c)
	} else if u := c.User(); u != nil {
		key = "user:" + u.ID
	} else {
		key = "ip:" + c.Socket().RemoteIP()
	}
	ctx, cancel := context.WithTimeout(c.Context(), time.Second)
	defer cancel()
	res, err := cl.Limiter.Get(ctx, key)
	if err != nil {
		c.Logger().Warn("cluster rate limit unavailable; event let through", "error", err.Error())
		return 0, false
	}
	if !res.Reached {
		return 0, false
	}
	return max(time.Until(time.Unix(res.Reset, 0)), time.Millisecond), true
}

// abusive counts a refusal and reports whether the socket crossed the abuse
// threshold within the window.
func (rl *rateLimiter) abusive(sl *socketLimits, now time.Time) bool {
	if rl.opts.AbuseThreshold < 0 {
		return false
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if now.Sub(sl.windowStart) > rl.opts.AbuseWindow {
		sl.windowStart, sl.refusals = now, 0
	}
	sl.refusals++
	return sl.refusals >= rl.opts.AbuseThreshold
}
