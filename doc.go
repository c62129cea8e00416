// Package realtime is a toolkit for WebSocket backends in the style of chi.
// Clients send named events; a Mux routes each one, by namespace and event
// name, through a chain of middleware to a handler; handlers acknowledge,
// reply, emit to rooms and users, and share state through a store. The same
// code runs on one instance with in-memory backends, which need no setup, or
// on many instances behind Redis.
//
// It is for servers that hold many long-lived connections and exchange small
// messages over them: chats, live dashboards, games, collaborative tools. It
// is not an HTTP router (mount the Mux in one, such as chi or net/http's
// ServeMux) and not a message queue (delivery is at most once, and nothing is
// kept for a client that is not connected). It speaks two protocols on one
// port, behind the same routes and middleware: its own, loly.v1, JSON
// envelopes over WebSocket, documented for client authors in
// docs/protocol.md; and Socket.IO v5 over Engine.IO v4 (WebSocket,
// long-polling and the upgrade between them), so that unchanged
// socket.io-client 4.x apps connect too (docs/socketio.md;
// Config.DisableSocketIO turns it off).
//
// # Routing
//
// A Mux is an http.Handler. Mount it where clients connect, at Config.Path
// ("/wss" by default); the rest of the URL path names the namespace, so a
// client of ws://host/wss/chat is a socket in namespace "/chat". Declare a
// namespace with a Route, the Go form of loly's defineWssRoute:
//
//	mux := realtime.New(realtime.Config{})
//	mux.Route(realtime.Route{
//		Namespace:    "/chat",
//		OnConnect:    welcome,
//		OnDisconnect: goodbye,
//		Events: map[string]realtime.Event{
//			"send": {
//				Handler:   realtime.Typed(send),
//				Schema:    realtime.JSON[Message](),
//				RateLimit: &realtime.Rate{EventsPerSecond: 5, Burst: 10},
//			},
//		},
//	})
//	if err := mux.Start(ctx); err != nil {
//		log.Fatal(err)
//	}
//	http.Handle("/wss/", mux)
//
// Mux.Start checks the configuration and every route and reports all the
// problems it finds in one error, each saying what to fix; call it at
// startup, before serving. Namespace, On and Handle register the same things
// one at a time, and panic at once on a wiring mistake (a nil handler, a
// duplicate or reserved event name), as chi does.
//
// # Middleware
//
// A middleware is a func(Handler) Handler; the first one registered runs
// outermost. Use adds stages to a mux's stack, With returns an inline mux
// with extra stages for the events registered through it, and Group does the
// same for a block of registrations. The standard stages are in package
// middleware: RequestID, Logger, Recoverer, Auth, Validate, Guard and
// RateLimit. They are configured once on the mux and read each event's own
// settings (schema, guard, rate limit) from its route, through Ctx.Endpoint
// and Ctx.Route, so any of them can be replaced by a function of the same
// shape. A declared setting is never silently off: Start refuses to serve
// when a route's auth hook or guard, or an event's guard, rate limit or
// schema, has no stage in its chain that enforces it; a replacement stage
// says what it enforces with Enforces. A stage hands the handler a value it
// loaded (a room, an account) through the event's context, with
// Ctx.SetContext, as HTTP middleware does with context.WithValue.
//
// A socket's arrival and departure pass through the same chain, as events of
// Kind KindConnect and KindDisconnect (named EventConnect and
// EventDisconnect), so authentication, logging and request ids cover them
// like any event. An error returned on connect refuses the socket; the user
// a stage binds there with Ctx.SetUser stays with the socket for its whole
// life.
//
// # Events and acks
//
// A Handler receives a *Ctx: the event name, its data as raw JSON
// (Ctx.Data), the socket and its user, and the actions. Ctx.Bind decodes the
// data; Typed adapts a handler that takes the data as a typed value, checked
// by the event's Schema (JSON[T] decodes into a T and runs its Validate
// method, such as one written with github.com/invopop/validation).
//
// A client event that carries an id gets exactly one acknowledgement: the
// data given to Ctx.Ack; an empty ack when the handler returns nil without
// acking; or an error ack when it fails. Ctx.Reply sends an event to the
// calling socket only, Ctx.Emit to every socket of the namespace, and
// Ctx.Broadcast to all of them but the caller.
//
// # Errors
//
// Handlers and stages return errors; the mux turns each one into what the
// client sees, in one place (Config.ErrorHandler, DefaultErrorHandler by
// default): one __loly:error event, plus the error ack when the client asked
// for an ack. Return an *Error to choose the code: Ctx.Error builds one with
// an application code ("ROOM_NOT_FOUND"), and ErrUnauthorized, ErrForbidden
// and ErrRateLimited are ready-made and match with errors.Is. Any other
// error, and any panic, reaches the client as INTERNAL_ERROR with the
// message "internal error"; the real cause goes to the log only. A failed
// event leaves the connection open; a failed connect closes it (4401 for
// UNAUTHORIZED, 4403 for FORBIDDEN).
//
// # Rooms and users
//
// Ctx.Join and Ctx.Leave put the calling socket in and out of rooms;
// Ctx.ToRoom(room).Emit reaches every member, and Target.Except leaves one
// socket out. A socket's user is bound once, at connect, by the Auth stage
// (or any stage that calls Ctx.SetUser), never from what a client sends
// later. Ctx.ToUser(id).Emit reaches every socket of that user, on every
// instance, and Target.Users lists the users of a namespace or a room.
// Mux.In gives the Target of a namespace for emits from outside a handler,
// such as a background job. Ctx.Store is the shared state: values with a
// ttl, atomic counters, capped lists (a chat history) and sets.
//
// A Target also controls its sockets, on every instance: Disconnect closes
// them with a close code and reason of the application's choosing, and Join
// and Leave put them in and out of rooms. Target.ToSocket (or Ctx.ToSocket)
// names one socket by its id, wherever it is. To sign a user out of every
// other session:
//
//	c.ToUser(c.UserID()).Except(c.SocketID()).Disconnect(4001, "signed in elsewhere")
//
// # Concurrency
//
// The events of one socket run one at a time, in the order they arrived, on
// that socket's read goroutine; a slow handler slows only its own socket.
// Different sockets run in parallel, so what handlers share must be safe for
// concurrent use.
//
// A handler must not keep its *Ctx after it returns, nor pass it to another
// goroutine: the Ctx is recycled for later events. Copy what is needed later
// (the data, Ctx.Socket, the user) before returning.
//
// Emits never wait for a client. Emit, Reply, Ack and Target.Emit encode the
// envelope once, queue it for each target socket and return; a socket with
// more than Config.SendQueueBytes waiting is closed with 1013 instead of
// slowing anyone else.
//
// The documentation of each exported type that does work (Mux, Ctx, Socket,
// Target, Schema) says whether it is safe for concurrent use. The plain data
// types (Config, Route, Event, Rate, User, Error) are values: fill one in,
// hand it over, and do not change it afterwards.
//
// # Cluster
//
// A Mux with a broadcast.Broker in its Config is an instance of a cluster:
// instances share their state through a store.Store and their emits
// through the broker, usually both on Redis (package cluster builds them
// from REDIS_URL and sets them on the Config). An emit is encoded once,
// delivered to local sockets at once, and published once for the other
// instances, which ignore their own messages; an instance subscribes to a
// room or a user only while it hosts one of its sockets. A Target's
// Disconnect, Join and Leave travel the same way, as control messages that
// no emit can pass for (internal/relay). Presence (who is in a namespace or
// room) is kept in the shared store, and the entries of an instance that
// dies without a goodbye expire within Config.PresenceTTL. If Redis goes
// away, local delivery goes on, publishing fails with an error the caller
// sees, and subscriptions come back with Redis.
//
// # Inside
//
// The root package is the API and the cluster glue; the wire, and the
// bookkeeping behind the API, are in internal packages that know nothing of
// it, behind one seam, internal/link's Conn, which a socket's transport
// implements. The path of one client event: the Mux (server.go) checks the
// origin and the per-address limit (internal/edge, which also builds the
// transports) and upgrades the connection (internal/native; a Socket.IO
// client goes through internal/engineio and internal/socketio instead);
// while the socket's connect runs, what it is sent waits (internal/gate).
// The connection's read goroutine decodes each envelope (internal/wire)
// and hands it to the socket (transport.go, socket.go), which looks up the
// endpoint that namespace.go composed when the event was registered
// (mux.go) and runs its chain with a pooled Ctx (ctx.go; the event's data
// decodes through internal/payload, and Ctx.Logger writes through
// internal/eventlog); what the handler returns becomes the ack or one error
// (errors.go, Config.ErrorHandler). An ack, or a Ctx.Reply, is written there
// and then on the read goroutine when nothing is queued for the socket
// (link.Replier), and queued behind what is otherwise. The path of one emit: Target.Emit
// (target.go) encodes the data once into a link.Message, which the
// namespace's membership table (internal/rooms) hands to each local socket
// of the target, each transport encoding it at most once for its wire and
// queueing it in its byte-bounded send queue (internal/sendq); the same
// message goes to the other instances through the background publisher
// (cluster.go, internal/node, internal/relay, internal/publish;
// internal/node also starts and stops the backends), and an instance that
// receives it, which internal/node routes by its topic, delivers it to its
// own sockets the same way. Rooms with history go through internal/catchup
// and internal/recovery.
package realtime
