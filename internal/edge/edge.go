// Package edge holds the checks a server makes on an HTTP request before it
// becomes a connection: where it goes (its namespace), whether its Origin is
// allowed, and how many connections its address holds.
package edge

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Namespace maps a request path to a namespace name, below the path the
// server is mounted at ("" when it is at the root). A path outside it is
// taken whole, so that a server behind http.StripPrefix works too.
func Namespace(p, mount string) string {
	if mount != "" && (p == mount || strings.HasPrefix(p, mount+"/")) {
		p = p[len(mount):]
	}
	return "/" + strings.Trim(p, "/")
}

// Origins decides which Origin headers are allowed.
type Origins struct {
	// Check, when set, decides alone.
	Check func(r *http.Request) bool
	// Allowed lists the origins allowed ("*" for any); empty means the
	// request's own host only.
	Allowed []string
}

// Allow reports whether r's Origin is allowed. A request without one (not
// from a browser) is.
func (o Origins) Allow(r *http.Request) bool {
	if o.Check != nil {
		return o.Check(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(o.Allowed) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	for _, a := range o.Allowed {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
}

// RemoteIP is the host of the request's remote address.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// PerIP counts the connections of each address, up to a limit (none when
// not positive). It is safe for concurrent use.
type PerIP struct {
	limit int
	mu    sync.Mutex
	n     map[string]int
}

// NewPerIP returns a counter with a limit.
func NewPerIP(limit int) *PerIP { return &PerIP{limit: limit, n: make(map[string]int)} }

// Acquire counts one more connection of ip, or reports false at the limit.
func (p *PerIP) Acquire(ip string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit > 0 && p.n[ip] >= p.limit {
		return false
	}
	p.n[ip]++
	return true
}

// Release counts one connection of ip fewer.
func (p *PerIP) Release(ip string) {
	p.mu.Lock()
	if n := p.n[ip]; n <= 1 {
		delete(p.n, ip)
	} else {
		p.n[ip] = n - 1
	}
	p.mu.Unlock()
}
