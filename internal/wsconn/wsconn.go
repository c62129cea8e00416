// Package wsconn holds what the WebSocket transports (the native protocol
// and Engine.IO's WebSocket) do the same way on a gws connection: writing a
// batch from the send queue and closing with the RFC 6455 handshake.
package wsconn

import (
	"encoding/binary"
	"errors"
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
