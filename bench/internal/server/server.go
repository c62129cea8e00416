// Package server holds the Go servers under test, each an http.Handler
// serving the same workloads: echo (reply with the request's data), join a
// room, and broadcast a payload to a room.
//
//   - Realtime: this repository's Mux behind the seven standard stages
//     ("realtime-min": the same Mux and routes with no stages and handlers
//     that do not decode, to tell the framework's cost from the stages';
//     "realtime-history": the full chain, and every room keeps its last
//     1,000 messages for recovery, in memory or, in a cluster, on Redis).
//   - GWS: bare gws, echo and gws.Broadcaster (one frame per message): the
//     physical limit of the stack the Mux is built on.
//   - Centrifuge: github.com/centrifugal/centrifuge, echo as an RPC, rooms
//     as channels, broadcasts as client publications.
package server

import (
	"context"
	"fmt"
	"net/http"
)

// Options configure a server.
type Options struct {
	// Redis, when set, joins the server to the others of its kind through
	// this Redis (redis://host:port/db).
	Redis string
	// Instance names this instance in a cluster.
	Instance string
	// Prefix keeps the channels and keys of one run apart from any other.
	Prefix string
}

// Server is a running server: its handler, and what Close must release.
type Server struct {
	Handler http.Handler
	Close   func(ctx context.Context) error
}

// New builds the server of kind.
func New(ctx context.Context, kind string, opts Options) (*Server, error) {
	switch kind {
	case "realtime":
		return newRealtime(ctx, opts, true, false)
	case "realtime-min":
		return newRealtime(ctx, opts, false, false)
	case "realtime-history":
		return newRealtime(ctx, opts, true, true)
	case "gws":
		if opts.Redis != "" {
			return nil, fmt.Errorf("the bare gws server has no cluster mode")
		}
		return newGWS(), nil
	case "centrifuge":
		return newCentrifuge(opts)
	}
	return nil, fmt.Errorf("unknown server kind %q (realtime, realtime-min, realtime-history, gws, centrifuge; socketio is the Node server in bench/socketio)", kind)
}
