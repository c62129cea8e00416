// Command chat is loly's realtime chat example (the /chat namespace of
// loly's space-explorer app) ported to Go, for loly's own page, unchanged:
// history in the state store, rooms, guards, a rate limit and private
// messages.
//
//	go run ./_examples/loly/chat -addr 127.0.0.1:8080
//
// What changed from the TypeScript route, line by line, is in
// _examples/loly/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/loly"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		slog.Error("chat: " + err.Error())
		os.Exit(1)
	}
}

// chatUser is the user the auth hook returns (User.Info).
type chatUser struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

func userName(c *realtime.Ctx) string {
	if u := c.User(); u != nil {
		if cu, ok := u.Info.(chatUser); ok && cu.Name != "" {
			return cu.Name
		}
	}
	return "Unknown"
}

func run(addr string) error {
	cfg := realtime.Config{}
	loly.Configure(&cfg)
	mux := realtime.New(cfg)
	mux.Use(loly.Stages()...)
	signedIn := func(c *realtime.Ctx) (bool, error) { return c.User() != nil, nil }
	mux.Route(realtime.Route{
		Namespace: "/chat",
		// A stand-in for real authentication, as in loly's example: the
		// Bearer token is the user id, and a socket without one is a guest.
		Auth: func(c *realtime.Ctx) (*realtime.User, error) {
			id := strings.Replace(c.Request().Header.Get("Authorization"), "Bearer ", "", 1)
			if id == "" {
				id = "guest-" + c.SocketID()[:8]
			}
			u := chatUser{ID: id, Name: "User " + id, Role: "user"}
			if strings.HasPrefix(id, "guest-") {
				u.Name = "Guest " + id[6:]
			}
			if strings.HasPrefix(id, "admin-") {
				u.Role = "admin"
			}
			return &realtime.User{ID: id, Info: u}, nil
		},
		OnConnect: func(c *realtime.Ctx) error {
			name := userName(c)
			state := loly.StateOf(c)
			if err := state.ListPush(c.Context(), "chat:messages", map[string]any{
				"type": "system", "message": name + " se unió al chat", "timestamp": time.Now().UnixMilli(),
			}, 50); err != nil {
				return err
			}
			if err := c.Broadcast("user-joined", map[string]any{
				"userId": c.UserID(), "userName": name, "timestamp": time.Now().UnixMilli(),
			}); err != nil {
				return err
			}
			recent, err := state.ListRange(c.Context(), "chat:messages", 0, 20)
			if err != nil {
				return err
			}
			c.Logger().Info("User joined chat", "userName", name)
			return c.Reply("chat-history", map[string]any{"messages": recent})
		},
		OnDisconnect: func(c *realtime.Ctx) error {
			name := userName(c)
			// The socket is gone: a failed broadcast is only logged.
			_ = c.Broadcast("user-left", map[string]any{
				"userId": c.UserID(), "userName": name, "timestamp": time.Now().UnixMilli(),
			})
			c.Logger().Info("User left chat", "userName", name, "reason", fmt.Sprint(c.DisconnectReason()))
			return nil
		},
		Events: map[string]realtime.Event{
			"message": {
				Schema:    realtime.JSON[message](),
				Guard:     signedIn,
				RateLimit: &realtime.Rate{EventsPerSecond: 10, Burst: 20},
				Handler: realtime.Typed(func(c *realtime.Ctx, m message) error {
					msg := map[string]any{
						"id":        strconv.FormatInt(time.Now().UnixMilli(), 10) + "-" + randomID(),
						"userId":    c.UserID(),
						"userName":  userName(c),
						"text":      m.Text,
						"timestamp": time.Now().UnixMilli(),
					}
					if err := loly.StateOf(c).ListPush(c.Context(), "chat:messages", msg, 50); err != nil {
						return err
					}
					c.Logger().Debug("Message sent", "roomId", m.RoomID)
					if m.RoomID != "" {
						return c.ToRoom(m.RoomID).Emit("message", msg)
					}
					return c.Broadcast("message", msg)
				}),
			},
			"join-room": {
				Schema: realtime.JSON[roomRequest](),
				Guard:  signedIn,
				Handler: realtime.Typed(func(c *realtime.Ctx, r roomRequest) error {
					if err := c.Join(r.RoomID); err != nil {
						return err
					}
					c.Logger().Info("User joined room", "roomId", r.RoomID)
					return c.ToRoom(r.RoomID).Emit("user-joined-room", map[string]any{
						"userId": c.UserID(), "userName": userName(c), "roomId": r.RoomID, "timestamp": time.Now().UnixMilli(),
					})
				}),
			},
			"leave-room": {
				Schema: realtime.JSON[roomRequest](),
				Guard:  signedIn,
				Handler: realtime.Typed(func(c *realtime.Ctx, r roomRequest) error {
					if err := c.Leave(r.RoomID); err != nil {
						return err
					}
					c.Logger().Info("User left room", "roomId", r.RoomID)
					return c.ToRoom(r.RoomID).Emit("user-left-room", map[string]any{
						"userId": c.UserID(), "userName": userName(c), "roomId": r.RoomID, "timestamp": time.Now().UnixMilli(),
					})
				}),
			},
			"private-message": {
				Schema: realtime.JSON[privateMessage](),
				Guard:  signedIn,
				Handler: realtime.Typed(func(c *realtime.Ctx, m privateMessage) error {
					if err := c.ToUser(m.ToUserID).Emit("private-message", map[string]any{
						"from": c.UserID(), "fromName": userName(c), "text": m.Text, "timestamp": time.Now().UnixMilli(),
					}); err != nil {
						return err
					}
					c.Logger().Debug("Private message sent", "to", m.ToUserID)
					return c.Reply("private-message-sent", map[string]any{
						"to": m.ToUserID, "timestamp": time.Now().UnixMilli(),
					})
				}),
			},
		},
	})
	return serve(addr, mux)
}

// message is {text: 1..500 chars, roomId?: string}.
type message struct {
	Text   string `json:"text"`
	RoomID string `json:"roomId"`
}

func (m message) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.Text, validation.Required, validation.RuneLength(1, 500)))
}

// roomRequest is {roomId: at least 1 char}.
type roomRequest struct {
	RoomID string `json:"roomId"`
}

func (r roomRequest) Validate() error {
	return validation.ValidateStruct(&r, validation.Field(&r.RoomID, validation.Required))
}

// privateMessage is {toUserId: at least 1 char, text: 1..500 chars}.
type privateMessage struct {
	ToUserID string `json:"toUserId"`
	Text     string `json:"text"`
}

func (m privateMessage) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.ToUserID, validation.Required),
		validation.Field(&m.Text, validation.Required, validation.RuneLength(1, 500)))
}

// randomID is nine base-36 characters, like Math.random().toString(36).substr(2, 9).
func randomID() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 9)
	for i := range b {
		b[i] = digits[rand.IntN(len(digits))]
	}
	return string(b)
}

// serve serves the mux at /wss until SIGINT or SIGTERM, printing the
// address it listens on first.
func serve(addr string, mux *realtime.Mux) error {
	if err := mux.Start(context.Background()); err != nil {
		return err
	}
	hm := http.NewServeMux()
	hm.Handle("/wss/", mux)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening on", ln.Addr())
	srv := &http.Server{Handler: hm, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(ctx), mux.Shutdown(ctx))
}
