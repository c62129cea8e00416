// Command tictactoe is loly's tic-tac-toe example (loly-examples'
// loly-tic-tac-toe, its /game namespace) ported to Go, for loly's own lobby
// and game pages, unchanged: cookie auth, rooms of two players or a player
// and a bot, and the game's own error codes.
//
//	go run ./_examples/loly/tictactoe -addr 127.0.0.1:8080
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/invopop/validation"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/loly"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		slog.Error("tictactoe: " + err.Error())
		os.Exit(1)
	}
}

// Player is one seat of a room.
type Player struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Symbol string `json:"symbol"`
}

// Board is nine cells, each nil, "X" or "O".
type Board [9]*string

// GameRoom is a game, sent to clients as it is.
type GameRoom struct {
	RoomID        string   `json:"roomId"`
	Players       []Player `json:"players"`
	Board         Board    `json:"board"`
	CurrentPlayer string   `json:"currentPlayer"`
	Status        string   `json:"status"` // waiting, playing or finished
	Winner        *string  `json:"winner"` // nil, "X", "O" or "draw"
	Bot           bool     `json:"bot"`
	CreatedAt     int64    `json:"createdAt"`
}

// AvailableRoom is a room waiting for a second player, as listed in the
// lobby.
type AvailableRoom struct {
	RoomID     string `json:"roomId"`
	Players    int    `json:"players"`
	PlayerName string `json:"playerName"`
	Bot        bool   `json:"bot"`
}

// game holds the rooms of this instance, in memory as in loly's example.
// Its lock also orders each room's emits, so that players see moves in the
// order they were made.
type game struct {
	mu    sync.Mutex
	rooms map[string]*GameRoom
	mux   *realtime.Mux
}

type player struct {
	ID   string
	Name string
}

func me(c *realtime.Ctx) player {
	p, _ := c.User().Info.(player)
	return p
}

func run(addr string) error {
	cfg := realtime.Config{}
	loly.Configure(&cfg)
	mux := realtime.New(cfg)
	mux.Use(loly.Stages()...)
	g := &game{rooms: make(map[string]*GameRoom), mux: mux}
	go g.cleanup()
	signedIn := func(c *realtime.Ctx) (bool, error) { return c.User() != nil, nil }
	mux.Route(realtime.Route{
		Namespace: "/game",
		// The user comes from the "user" cookie, "name-id", set by the app's
		// own setup endpoint.
		Auth: func(c *realtime.Ctx) (*realtime.User, error) {
			ck, err := c.Request().Cookie("user")
			if err != nil || ck.Value == "" {
				return nil, nil
			}
			parts := strings.Split(ck.Value, "-")
			if len(parts) < 2 {
				return nil, nil
			}
			p := player{Name: parts[0], ID: strings.Join(parts[1:], "-")}
			if p.ID == "" {
				return nil, nil
			}
			return &realtime.User{ID: p.ID, Info: p}, nil
		},
		Events: map[string]realtime.Event{
			"createroom":   {Schema: realtime.JSON[createRoom](), Guard: signedIn, Handler: realtime.Typed(g.createRoom)},
			"joinroom":     {Schema: realtime.JSON[roomRef](), Guard: signedIn, Handler: realtime.Typed(g.joinRoom)},
			"makemove":     {Schema: realtime.JSON[move](), Guard: signedIn, Handler: realtime.Typed(g.makeMove)},
			"listrooms":    {Guard: signedIn, Handler: g.listRooms},
			"getgamestate": {Schema: realtime.JSON[roomRef](), Guard: signedIn, Handler: realtime.Typed(g.getGameState)},
			"leaveroom":    {Schema: realtime.JSON[roomRef](), Guard: signedIn, Handler: realtime.Typed(g.leaveRoom)},
			"resetgame":    {Schema: realtime.JSON[roomRef](), Guard: signedIn, Handler: realtime.Typed(g.resetGame)},
		},
	})
	return serve(addr, mux)
}

// createRoom is {bot?: boolean}.
type createRoom struct {
	Bot bool `json:"bot"`
}

// roomRef is {roomId: uuid}.
type roomRef struct {
	RoomID string `json:"roomId"`
}

func (r roomRef) Validate() error {
	return validation.ValidateStruct(&r, validation.Field(&r.RoomID, validation.Required, isUUID))
}

// move is {roomId: uuid, position: int 0..8}.
type move struct {
	RoomID   string `json:"roomId"`
	Position *int   `json:"position"`
}

func (m move) Validate() error {
	return validation.ValidateStruct(&m,
		validation.Field(&m.RoomID, validation.Required, isUUID),
		validation.Field(&m.Position, validation.NotNil, validation.Min(0), validation.Max(8)))
}

var isUUID = validation.By(func(v any) error {
	if s, _ := v.(string); s != "" {
		if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
			return errors.New("must be a UUID")
		}
	}
	return nil
})

func (g *game) createRoom(c *realtime.Ctx, req createRoom) error {
	u := me(c)
	room := &GameRoom{
		RoomID:        uuid.NewString(),
		Players:       []Player{{ID: u.ID, Name: u.Name, Symbol: "X"}},
		CurrentPlayer: "X",
		Status:        "waiting",
		Bot:           req.Bot,
		CreatedAt:     time.Now().UnixMilli(),
	}
	if req.Bot {
		room.Status = "playing"
		room.Players = append(room.Players, Player{ID: "bot", Name: "Bot", Symbol: "O"})
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rooms[room.RoomID] = room
	if err := c.Join(room.RoomID); err != nil {
		return err
	}
	if err := c.Emit("roomcreated", map[string]any{"roomId": room.RoomID, "room": room}); err != nil {
		return err
	}
	return c.Broadcast("roomlistupdated", map[string]any{"rooms": g.available()})
}

func (g *game) joinRoom(c *realtime.Ctx, req roomRef) error {
	u := me(c)
	g.mu.Lock()
	defer g.mu.Unlock()
	room := g.rooms[req.RoomID]
	switch {
	case room == nil:
		return c.Error("ROOM_NOT_FOUND", "Room not found", nil)
	case room.Status != "waiting":
		return c.Error("ROOM_NOT_AVAILABLE", "Room is not available", nil)
	case len(room.Players) >= 2:
		return c.Error("ROOM_FULL", "Room is full", nil)
	case room.seat(u.ID) != nil:
		return c.Error("ALREADY_IN_ROOM", "You are already in this room", nil)
	}
	p := Player{ID: u.ID, Name: u.Name, Symbol: "O"}
	room.Players = append(room.Players, p)
	room.Status = "playing"
	if err := c.Join(room.RoomID); err != nil {
		return err
	}
	to := c.ToRoom(room.RoomID)
	if err := to.Emit("playerjoined", map[string]any{"room": room, "player": p}); err != nil {
		return err
	}
	if err := to.Emit("gamestate", map[string]any{"room": room}); err != nil {
		return err
	}
	return c.Emit("roomlistupdated", map[string]any{"rooms": g.available()})
}

func (g *game) makeMove(c *realtime.Ctx, req move) error {
	u := me(c)
	g.mu.Lock()
	defer g.mu.Unlock()
	room := g.rooms[req.RoomID]
	if room == nil {
		return c.Error("ROOM_NOT_FOUND", "Room not found", nil)
	}
	if room.Status != "playing" {
		return c.Error("GAME_NOT_ACTIVE", "Game is not active", nil)
	}
	p := room.seat(u.ID)
	if p == nil {
		return c.Error("NOT_IN_ROOM", "You are not in this room", nil)
	}
	if room.CurrentPlayer != p.Symbol {
		return c.Error("NOT_YOUR_TURN", "It's not your turn", nil)
	}
	if !room.play(*req.Position, p.Symbol) {
		return c.Error("INVALID_MOVE", "Invalid move", nil)
	}
	to := g.mux.In("/game").ToRoom(room.RoomID)
	if err := to.Emit("movemade", map[string]any{"room": room, "position": *req.Position, "player": p.Symbol}); err != nil {
		return err
	}
	if err := to.Emit("gamestate", map[string]any{"room": room}); err != nil {
		return err
	}
	if room.Bot && room.Status == "playing" && room.CurrentPlayer == "O" {
		time.AfterFunc(500*time.Millisecond, func() { g.botMove(room) })
	}
	return nil
}

// botMove plays the bot's turn, half a second after the player's.
func (g *game) botMove(room *GameRoom) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if room.Status != "playing" || room.CurrentPlayer != "O" {
		return
	}
	pos := botPosition(room.Board, "O")
	if pos < 0 || !room.play(pos, "O") {
		return
	}
	to := g.mux.In("/game").ToRoom(room.RoomID)
	_ = to.Emit("movemade", map[string]any{"room": room, "position": pos, "player": "O"})
	_ = to.Emit("gamestate", map[string]any{"room": room})
}

func (g *game) listRooms(c *realtime.Ctx) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return c.Reply("roomlist", map[string]any{"rooms": g.available()})
}

func (g *game) getGameState(c *realtime.Ctx, req roomRef) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	room := g.rooms[req.RoomID]
	if room == nil {
		return c.Error("ROOM_NOT_FOUND", "Room not found", nil)
	}
	if room.seat(me(c).ID) == nil {
		return c.Error("NOT_IN_ROOM", "You are not in this room", nil)
	}
	if err := c.Join(room.RoomID); err != nil {
		return err
	}
	return c.Reply("gamestate", map[string]any{"room": room})
}

func (g *game) leaveRoom(c *realtime.Ctx, req roomRef) error {
	u := me(c)
	g.mu.Lock()
	defer g.mu.Unlock()
	room := g.rooms[req.RoomID]
	if room == nil {
		return nil
	}
	if err := c.Leave(room.RoomID); err != nil {
		return err
	}
	kept := room.Players[:0]
	for _, p := range room.Players {
		if p.ID != u.ID {
			kept = append(kept, p)
		}
	}
	room.Players = kept
	if len(kept) == 0 || (len(kept) == 1 && kept[0].ID == "bot") {
		delete(g.rooms, room.RoomID)
	} else if err := c.ToRoom(room.RoomID).Emit("playerleft", map[string]any{"room": room, "playerId": u.ID}); err != nil {
		return err
	}
	return c.Emit("roomlistupdated", map[string]any{"rooms": g.available()})
}

func (g *game) resetGame(c *realtime.Ctx, req roomRef) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	room := g.rooms[req.RoomID]
	if room == nil {
		return c.Error("ROOM_NOT_FOUND", "Room not found", nil)
	}
	if room.seat(me(c).ID) == nil {
		return c.Error("NOT_IN_ROOM", "You are not in this room", nil)
	}
	room.Board = Board{}
	room.CurrentPlayer = "X"
	room.Status = "waiting"
	if len(room.Players) == 2 || room.Bot {
		room.Status = "playing"
	}
	room.Winner = nil
	return c.ToRoom(room.RoomID).Emit("gamestate", map[string]any{"room": room})
}

// available lists the rooms waiting for a second player. Call with g.mu held.
func (g *game) available() []AvailableRoom {
	out := []AvailableRoom{}
	for _, r := range g.rooms {
		if r.Status == "waiting" && len(r.Players) == 1 {
			out = append(out, AvailableRoom{RoomID: r.RoomID, Players: 1, PlayerName: r.Players[0].Name, Bot: r.Bot})
		}
	}
	return out
}

// cleanup drops finished rooms older than an hour, every 30 minutes.
func (g *game) cleanup() {
	for range time.Tick(30 * time.Minute) {
		g.mu.Lock()
		for id, r := range g.rooms {
			if r.Status == "finished" && time.Since(time.UnixMilli(r.CreatedAt)) > time.Hour {
				delete(g.rooms, id)
			}
		}
		g.mu.Unlock()
	}
}

func (r *GameRoom) seat(userID string) *Player {
	for i := range r.Players {
		if r.Players[i].ID == userID {
			return &r.Players[i]
		}
	}
	return nil
}

// play puts symbol at pos and moves the game on: a winner, a draw, or the
// other player's turn. It reports false for an occupied or invalid cell.
func (r *GameRoom) play(pos int, symbol string) bool {
	if pos < 0 || pos > 8 || r.Board[pos] != nil {
		return false
	}
	r.Board[pos] = &symbol
	if w := winner(r.Board); w != "" {
		r.Status, r.Winner = "finished", &w
	} else if full(r.Board) {
		draw := "draw"
		r.Status, r.Winner = "finished", &draw
	} else if r.CurrentPlayer == "X" {
		r.CurrentPlayer = "O"
	} else {
		r.CurrentPlayer = "X"
	}
	return true
}

var lines = [8][3]int{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {0, 3, 6}, {1, 4, 7}, {2, 5, 8}, {0, 4, 8}, {2, 4, 6}}

func winner(b Board) string {
	for _, l := range lines {
		if b[l[0]] != nil && b[l[1]] != nil && b[l[2]] != nil && *b[l[0]] == *b[l[1]] && *b[l[0]] == *b[l[2]] {
			return *b[l[0]]
		}
	}
	return ""
}

func full(b Board) bool {
	for _, c := range b {
		if c == nil {
			return false
		}
	}
	return true
}

// botPosition is loly's bot: win if it can, block if it must, else the
// centre, a free corner, or any free cell; -1 when the board is full.
func botPosition(b Board, bot string) int {
	opponent := "X"
	if bot == "X" {
		opponent = "O"
	}
	for _, sym := range []string{bot, opponent} {
		for i := range b {
			if b[i] == nil {
				t := b
				s := sym
				t[i] = &s
				if winner(t) == sym {
					return i
				}
			}
		}
	}
	if b[4] == nil {
		return 4
	}
	var free []int
	for _, i := range []int{0, 2, 6, 8} {
		if b[i] == nil {
			free = append(free, i)
		}
	}
	if len(free) == 0 {
		for i := range b {
			if b[i] == nil {
				free = append(free, i)
			}
		}
	}
	if len(free) == 0 {
		return -1
	}
	return free[rand.IntN(len(free))]
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
