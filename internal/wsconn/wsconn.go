// Package wsconn holds what the WebSocket transports (the native protocol
// and Engine.IO's WebSocket) do the same way: checking and refusing opening
// handshakes before gws takes the connection, and closing a gws connection
// with the RFC 6455 handshake.
package wsconn

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lxzan/gws"
)

// CloseGrace bounds how long a connection waits, after its close frame, for
// the client's close frame (or a stuck write for its peer to read): a
// client that is still sending gets time to read the close, and one that
// is gone costs its socket no longer than this.
const CloseGrace = 2 * time.Second

// Close ends a connection the way RFC 6455 asks. It sends the close frame,
// shuts the write side down (the FIN follows the frame), and leaves the
// read loop running, discarding the client's frames until its close frame
// arrives or CloseGrace passes; gws then closes the socket. Closing the
// socket at once, with client data unread, would make the kernel reset the
// connection and drop what was not yet delivered, the close frame included,
// for a client that is still sending. An abrupt close, for a client
// presumed gone, sends the frame if it can and closes the socket at once.
// Call it from the connection's writer once nothing else will be written.
func Close(ws *gws.Conn, code uint16, reason string, abrupt bool) {
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), code)
	payload = append(payload, truncate(reason, 123)...)
	nc := ws.NetConn()
	wait := CloseGrace
	if abrupt {
		wait = 100 * time.Millisecond
	}
	_ = nc.SetWriteDeadline(time.Now().Add(wait))
	if ws.WriteMessage(gws.OpcodeCloseConnection, payload) != nil {
		return // gws closed the connection on the failed write
	}
	if abrupt {
		_ = nc.Close()
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(CloseGrace))
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence
// (close reasons must be valid UTF-8).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ClientClose returns the code and reason of the close frame that ended a
// connection from the client's side, when err (gws's OnClose error) is one.
func ClientClose(err error) (uint16, string, bool) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return ce.Code, string(ce.Reason), true
	}
	return 0, "", false
}

// TooLarge reports whether gws ended a connection for a message larger than
// its read limit (it sent the 1009 close itself).
func TooLarge(err error) bool {
	return err != nil && err.Error() == "gws: message too large"
}

// IsUpgrade reports whether r asks for a WebSocket (Upgrade: websocket).
func IsUpgrade(r *http.Request) bool { return hasToken(r.Header, "Upgrade", "websocket") }

// CheckHandshake checks that r is a WebSocket opening handshake gws will
// accept (RFC 6455, section 4.2.1), before the connection is handed over:
// gws answers a bad one itself, on the raw connection, and closes it. It
// returns 0 for a valid handshake, else the status to refuse it with (426
// when r is no WebSocket request at all or asks for another version, 400
// otherwise) and the problem. Its header checks are gws's own, no looser.
func CheckHandshake(r *http.Request) (int, string) {
	switch {
	case !IsUpgrade(r):
		return http.StatusUpgradeRequired, "this URL takes WebSocket connections"
	case r.Method != http.MethodGet:
		return http.StatusBadRequest, "a WebSocket handshake must be a GET request"
	case !strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		return http.StatusBadRequest, "a WebSocket handshake needs Upgrade: websocket"
	case !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade"):
		return http.StatusBadRequest, "a WebSocket handshake needs Connection: Upgrade"
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return http.StatusUpgradeRequired, "only WebSocket version 13 is supported"
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return http.StatusBadRequest, "a WebSocket handshake needs Sec-WebSocket-Key"
	}
	return 0, ""
}

// Refuse answers r with an HTTP error that is a complete response: status,
// content type and body with its length. A refused WebSocket request gets
// Connection: close, and the connection closes after the answer; a 426
// says which protocol and version to ask for.
func Refuse(w http.ResponseWriter, r *http.Request, status int, contentType, body string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusUpgradeRequired {
		h.Set("Upgrade", "websocket")
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Connection", "Upgrade")
	}
	if IsUpgrade(r) {
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// hasToken reports whether a comma-separated header has the token, in any
// case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
