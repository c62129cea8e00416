package server

import (
	"bytes"
	"context"
	"net/http"
	"sync"

	"github.com/lxzan/gws"
)

// bareGWS is the reference: gws under net/http, as the Mux is, with nothing
// on top. Frames are one-letter commands: "E<id> <data>" is echoed as it
// is, "J<id> <room>" joins a room and is answered "J<id>", "B<room> <data>"
// sends data to every member of the room, one frame per member, through
// gws.Broadcaster (the frame is built once).
type bareGWS struct {
	up *gws.Upgrader

	mu    sync.RWMutex
	rooms map[string]map[*gws.Conn]struct{}
	of    map[*gws.Conn][]string
}

func newGWS() *Server {
	s := &bareGWS{rooms: make(map[string]map[*gws.Conn]struct{}), of: make(map[*gws.Conn][]string)}
	s.up = gws.NewUpgrader(s, &gws.ServerOption{ReadMaxPayloadSize: 64 << 10})
	h := http.NewServeMux()
	h.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := s.up.Upgrade(w, r)
		if err != nil {
			return
		}
		ws.ReadLoop()
	})
	return &Server{Handler: h, Close: func(context.Context) error { return nil }}
}

func (s *bareGWS) OnOpen(*gws.Conn)              {}
func (s *bareGWS) OnPing(ws *gws.Conn, p []byte) { _ = ws.WritePong(p) }
func (s *bareGWS) OnPong(*gws.Conn, []byte)      {}
func (s *bareGWS) OnClose(ws *gws.Conn, _ error) { s.leaveAll(ws) }
func (s *bareGWS) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := m.Bytes()
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case 'E':
		_ = ws.WriteMessage(gws.OpcodeText, b)
	case 'J':
		id, room, _ := bytes.Cut(b[1:], []byte{' '})
		s.join(ws, string(room))
		_ = ws.WriteMessage(gws.OpcodeText, append([]byte{'J'}, id...))
	case 'B':
		room, data, _ := bytes.Cut(b[1:], []byte{' '})
		bc := gws.NewBroadcaster(gws.OpcodeText, bytes.Clone(data))
		s.mu.RLock()
		for member := range s.rooms[string(room)] {
			_ = bc.Broadcast(member)
		}
		s.mu.RUnlock()
		_ = bc.Close()
	}
}

func (s *bareGWS) join(ws *gws.Conn, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.rooms[room]
	if set == nil {
		set = make(map[*gws.Conn]struct{})
		s.rooms[room] = set
	}
	if _, in := set[ws]; !in {
		set[ws] = struct{}{}
		s.of[ws] = append(s.of[ws], room)
	}
}

func (s *bareGWS) leaveAll(ws *gws.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, room := range s.of[ws] {
		delete(s.rooms[room], ws)
		if len(s.rooms[room]) == 0 {
			delete(s.rooms, room)
		}
	}
	delete(s.of, ws)
}
