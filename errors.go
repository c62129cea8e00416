package realtime

import (
	"errors"
	"fmt"
)

// Error codes sent to clients in the code field of an error object. They are
// the codes of the loly protocol; applications add their own with NewError
// or Ctx.Error.
const (
	// CodeBadMessage: the frame is not a valid envelope.
	CodeBadMessage = "BAD_MESSAGE"
	// CodeUnknownEvent: no handler for the event in this namespace.
	CodeUnknownEvent = "UNKNOWN_EVENT"
	// CodeBadPayload: the event's data failed schema validation.
	CodeBadPayload = "BAD_PAYLOAD"
	// CodeUnauthorized: authentication failed, or the event needs a user.
	CodeUnauthorized = "UNAUTHORIZED"
	// CodeForbidden: a guard refused.
	CodeForbidden = "FORBIDDEN"
	// CodeRateLimit: a rate limit was hit.
	CodeRateLimit = "RATE_LIMIT"
	// CodeInternal: the handler failed or panicked.
	CodeInternal = "INTERNAL_ERROR"
)

// WebSocket close codes the server uses. See docs/protocol.md.
const (
	CloseNormal    uint16 = 1000
	CloseGoingAway uint16 = 1001
	// CloseAbnormal is never sent: it is the code of a connection lost
	// without a close (CloseError.Code).
	CloseAbnormal      uint16 = 1006
	ClosePolicy        uint16 = 1008
	CloseTooBig        uint16 = 1009
	CloseInternal      uint16 = 1011
	CloseTryAgainLater uint16 = 1013
	CloseUnauthorized  uint16 = 4401
	CloseForbidden     uint16 = 4403
)

// Error is an error a client is meant to see: the object carried by
// __loly:error events and by error acks. Handlers and middleware return it
// (usually through Ctx.Error or NewError) to choose what the client is told.
//
// Cause is never sent; it is kept for logs and for errors.Is and errors.As.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Event     string `json:"event,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Details   any    `json:"details,omitempty"`
	Cause     error  `json:"-"`
	// Close, when not zero, closes the socket with this WebSocket close code
	// once the error has been sent (a Socket.IO socket is disconnected from
	// its namespace). RateLimit sets it for sustained abuse (1008).
	Close uint16 `json:"-"`
}

// NewError returns an *Error with the code, message and optional details.
func NewError(code, message string, details any) *Error {
	return &Error{Code: code, Message: message, Details: details}
}

// Error returns "code: message", followed by the cause when there is one.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, realtime.ErrForbidden) matches any FORBIDDEN error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errors to return, or to match with errors.Is, for the common refusals.
var (
	ErrUnauthorized = &Error{Code: CodeUnauthorized, Message: "authentication required"}
	ErrForbidden    = &Error{Code: CodeForbidden, Message: "forbidden"}
	ErrRateLimited  = &Error{Code: CodeRateLimit, Message: "rate limit exceeded"}
	ErrInternal     = &Error{Code: CodeInternal, Message: "internal error"}
)

// ErrorOf returns the client-facing form of err: a copy of the *Error in its
// chain, or an INTERNAL_ERROR whose cause is err. It returns nil for nil.
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e != nil {
		cp := *e
		if cp.Cause == nil && e != err {
			cp.Cause = err
		}
		return &cp
	}
	return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: err}
}

// closeCodeFor is the close code used when err refuses a connecting socket.
func closeCodeFor(e *Error) uint16 {
	switch e.Code {
	case CodeUnauthorized:
		return CloseUnauthorized
	case CodeForbidden:
		return CloseForbidden
	case CodeRateLimit:
		return ClosePolicy
	case CodeInternal:
		return CloseInternal
	default:
		// An application's own refusal (ROOM_FULL, say) is a refusal, not
		// a server failure.
		return CloseForbidden
	}
}

// CloseError is why a socket ended, its disconnect reason
// (Ctx.DisconnectReason): the close the server decided (refused at connect,
// evicted as a slow consumer with 1013, silent past the ping timeout with
// 1001 "ping timeout", closed by Socket.Close, shut down with 1001), the
// client's own close (ByClient, with the client's code and reason), or a
// connection lost without a close (ByClient, 1006).
type CloseError struct {
	Code     uint16
	Reason   string
	ByClient bool
}

// Error returns "closed by the server with <code>: <reason>", "closed by
// the client with <code>: <reason>" or "connection lost: <reason>".
func (e *CloseError) Error() string {
	switch {
	case !e.ByClient:
		return fmt.Sprintf("closed by the server with %d: %s", e.Code, e.Reason)
	case e.Code == CloseAbnormal:
		return "connection lost: " + e.Reason
	}
	return fmt.Sprintf("closed by the client with %d: %s", e.Code, e.Reason)
}
