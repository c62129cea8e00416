package realtimetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// DialRaw opens a WebSocket connection to url (see Server.URL) and does the
// handshake only: it reads the server's 101 response, byte by byte, and
// nothing after it. What the connection does next is up to the test, which
// makes it the tool for clients that misbehave below the protocol: one that
// never reads (a slow consumer), one that never answers pings. header is sent
// with the handshake. The caller closes the connection.
//
// The error of a refused handshake names the HTTP status, as Dial's does
// ("unexpected status code: 429").
func DialRaw(ctx context.Context, rawURL string, header http.Header) (net.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("realtimetest: DialRaw supports ws:// URLs only, not %q", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if err := handshake(ctx, conn, u, header); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

func handshake(ctx context.Context, conn net.Conn, u *url.URL, header http.Header) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])

	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	req.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\n", key)
	if err := header.Write(&req); err != nil {
		return err
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		return err
	}

	// Read the response head one byte at a time, so that no frame the server
	// sends right after it is consumed here.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) > 16<<10 {
			return errors.New("realtimetest: handshake response head too long")
		}
		if _, err := conn.Read(b); err != nil {
			return fmt.Errorf("realtimetest: reading handshake response: %w", err)
		}
		head = append(head, b[0])
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("unexpected status code: %d", resp.StatusCode)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errors.New("realtimetest: bad Sec-WebSocket-Accept in handshake response")
	}
	return conn.SetDeadline(time.Time{})
}

// WriteText writes payload to w as one masked WebSocket text frame, the way
// a client must send it: the tool for a DialRaw connection to talk.
func WriteText(w io.Writer, payload []byte) error {
	head := make([]byte, 2, 14)
	head[0] = 0x80 | 0x1 // FIN, text
	switch n := len(payload); {
	case n < 126:
		head[1] = 0x80 | byte(n)
	case n <= 0xFFFF:
		head[1] = 0x80 | 126
		head = append(head, byte(n>>8), byte(n))
	default:
		head[1] = 0x80 | 127
		for i := 7; i >= 0; i-- {
			head = append(head, byte(uint64(n)>>(8*i)))
		}
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	head = append(head, mask[:]...)
	frame := make([]byte, 0, len(head)+len(payload))
	frame = append(frame, head...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_, err := w.Write(frame)
	return err
}
