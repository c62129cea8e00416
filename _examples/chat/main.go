// Command chat is a small chat server: guest users, rooms that keep their
// last 50 messages, a list of who is in each room, and private messages.
// It serves one HTML page, so two browser tabs are enough to try it:
//
//	go run ./_examples/chat            # then open http://localhost:8080 twice
//	go run ./_examples/chat -addr :9000
//
// The page speaks the native protocol (docs/protocol.md) with plain
// JavaScript and connects to ws://localhost:8080/wss/chat. Add ?name=alice
// to the page's address to choose a name; without one you get a guest name.
//
// Everything lives in memory on this one instance: the store that keeps the
// history, rooms and presence.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/middleware"
)

//go:embed index.html
var page []byte

// historyLen is how many messages each room keeps.
const historyLen = 50

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		slog.Error("chat: " + err.Error())
		os.Exit(1)
	}
}

func run(addr string) error {
	// The zero Config serves at /wss with loly's defaults, on one instance,
	// with the state kept in memory.
	mux := realtime.New(realtime.Config{})
	// The standard stages, configured once; each event states only its own
	// settings on the route. Auth runs the route's Auth hook on connect.
	mux.Use(
		middleware.RequestID,
		middleware.Logger(slog.Default()),
		middleware.Recoverer,
		middleware.AuthWithOpts(middleware.AuthOpts{Required: true}),
		middleware.Validate,
		middleware.RateLimit(middleware.RateLimitOpts{}),
	)
	mux.Route(chatRoute())
	// Start checks the config and the routes now rather than on the first
	// connection, so a mistake stops the program here.
	if err := mux.Start(context.Background()); err != nil {
		return err
	}

	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	r.Handle("/wss/*", mux)

	srv := &http.Server{Addr: addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	slog.Info("chat: open " + pageURL(ln.Addr()) + " in two browser tabs")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop()
	slog.Info("chat: shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The HTTP server stops accepting first. It does not track upgraded
	// connections; the mux closes those with 1001 once their queues drain,
	// running the disconnect handler of each.
	return errors.Join(srv.Shutdown(ctx), mux.Shutdown(ctx))
}

// pageURL is the address to open in a browser.
func pageURL(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// namePattern is what a user name (and so a user id) may look like.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,24}$`)

// guestUser is the route's Auth hook: it runs once per socket, on the
// handshake, and names the user: the ?name= query parameter, or a new
// guest-xxxx. Anyone may take any name, which is fine for a demo; a real
// application checks a token or a session cookie here (see
// middleware.Credential). Two tabs with the same name are one user with two
// sockets, and a private message reaches both.
func guestUser(c *realtime.Ctx) (*realtime.User, error) {
	name := c.Request().URL.Query().Get("name")
	if name == "" {
		name = fmt.Sprintf("guest-%04x", rand.IntN(1<<16))
	} else if !namePattern.MatchString(name) {
		// Refuses the socket: __loly:error UNAUTHORIZED, then close 4401.
		return nil, realtime.NewError(realtime.CodeUnauthorized,
			"name must be 1 to 24 letters, digits, '-' or '_'", nil)
	}
	return &realtime.User{ID: name, Info: name}, nil
}

// chatRoute declares the /chat namespace: one entry per client event, each
// with its handler and the schema its data must pass.
func chatRoute() realtime.Route {
	return realtime.Route{
		Namespace:    "/chat",
		Auth:         guestUser,
		OnConnect:    welcome,
		OnDisconnect: leaveAll,
		Events: map[string]realtime.Event{
			"join-room": {
				Handler: realtime.Typed(joinRoom),
				Schema:  realtime.JSON[roomRequest](),
			},
			"leave-room": {
				Handler: realtime.Typed(leaveRoom),
				Schema:  realtime.JSON[roomRequest](),
			},
			"send-message": {
				Handler: realtime.Typed(sendMessage),
				Schema:  realtime.JSON[roomMessage](),
			},
			"private-message": {
				Handler: realtime.Typed(sendPrivate),
				Schema:  realtime.JSON[privateMessage](),
			},
		},
	}
}

var roomPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Each schema is a struct with a Validate method; realtime.JSON decodes the
// data and calls it, and a failure reaches the client as BAD_PAYLOAD with
// one message per field. Value receivers, so that invopop/validation also
// finds them on nested fields.

// roomRequest is the data of join-room and leave-room.
type roomRequest struct {
	Room string `json:"room"`
}

func (r roomRequest) Validate() error {
	return validation.ValidateStruct(&r,
		validation.Field(&r.Room, validation.Required,
			validation.Match(roomPattern).Error("must be 1 to 32 letters, digits, '-' or '_'")),
	)
}

// roomMessage is the data of send-message.
type roomMessage struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

func (m roomMessage) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.Room, validation.Required),
		validation.Field(&m.Text, validation.Required, validation.RuneLength(1, 500)),
	)
}

// privateMessage is the data of private-message.
type privateMessage struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

func (m privateMessage) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.To, validation.Required, validation.Match(namePattern).Error("is not a user id")),
		validation.Field(&m.Text, validation.Required, validation.RuneLength(1, 500)),
	)
}

// message is a chat line as clients receive it and as the history keeps it.
type message struct {
	Room string `json:"room,omitempty"`
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	Text string `json:"text"`
	At   int64  `json:"at"` // Unix milliseconds
}

// welcome tells a new socket who it is. The page waits for it before
// joining the lobby.
func welcome(c *realtime.Ctx) error {
	return c.Reply("welcome", map[string]string{"userId": c.UserID()})
}

// leaveAll runs when a socket goes away: it leaves each of its rooms so that
// the others see an up-to-date presence list.
func leaveAll(c *realtime.Ctx) error {
	var errs []error
	for _, room := range c.Socket().Rooms() {
		errs = append(errs, c.Leave(room), announcePresence(c, room))
	}
	return errors.Join(errs...)
}

func historyKey(room string) string { return "chat:history:" + room }

// joinRoom adds the socket to a room, sends it the room's history, and
// tells the room who is in it now.
func joinRoom(c *realtime.Ctx, req roomRequest) error {
	if err := c.Join(req.Room); err != nil {
		return err
	}
	stored, err := c.Store().ListRange(c.Context(), historyKey(req.Room), 0, -1)
	if err != nil {
		return err
	}
	// The store keeps each message as the JSON it was sent as, so the
	// history goes out without being decoded.
	history := make([]json.RawMessage, len(stored))
	for i, m := range stored {
		history[i] = m
	}
	if err := c.Reply("history", map[string]any{"room": req.Room, "messages": history}); err != nil {
		return err
	}
	return announcePresence(c, req.Room)
}

// leaveRoom takes the socket out of a room.
func leaveRoom(c *realtime.Ctx, req roomRequest) error {
	if err := c.Leave(req.Room); err != nil {
		return err
	}
	return announcePresence(c, req.Room)
}

// announcePresence sends the room the list of its users.
func announcePresence(c *realtime.Ctx, room string) error {
	target := c.ToRoom(room)
	users, err := target.Users(c.Context())
	if err != nil {
		return err
	}
	return target.Emit("presence", map[string]any{"room": room, "users": users})
}

// sendMessage keeps a message in the room's history and sends it to every
// member, the sender included.
func sendMessage(c *realtime.Ctx, req roomMessage) error {
	if !c.Socket().InRoom(req.Room) {
		return c.Error("NOT_IN_ROOM", "join the room before sending to it", map[string]string{"room": req.Room})
	}
	msg, err := json.Marshal(message{Room: req.Room, From: c.UserID(), Text: req.Text, At: time.Now().UnixMilli()})
	if err != nil {
		return err
	}
	if _, err := c.Store().ListPush(c.Context(), historyKey(req.Room), historyLen, msg); err != nil {
		return err
	}
	return c.ToRoom(req.Room).Emit("message", json.RawMessage(msg))
}

// sendPrivate sends a message to every socket of one user, and acks it to
// the sender with the message as delivered.
func sendPrivate(c *realtime.Ctx, req privateMessage) error {
	online, err := c.ToUser(req.To).Users(c.Context())
	if err != nil {
		return err
	}
	if len(online) == 0 {
		return c.Error("USER_NOT_FOUND", req.To+" is not online", map[string]string{"to": req.To})
	}
	msg := message{From: c.UserID(), To: req.To, Text: req.Text, At: time.Now().UnixMilli()}
	// The calling socket gets the message in its ack; every other socket of
	// the recipient and of the sender (their other tabs) gets an event.
	if err := c.ToUser(req.To).Except(c.SocketID()).Emit("private-message", msg); err != nil {
		return err
	}
	if req.To != c.UserID() {
		if err := c.ToUser(c.UserID()).Except(c.SocketID()).Emit("private-message", msg); err != nil {
			return err
		}
	}
	return c.Ack(msg)
}
