package loly

import (
	"errors"
	"sort"

	"github.com/lolyjs/realtime"
)

// The messages loly sent for the errors of its own stages.
const (
	// MessageBadPayload is loly's message for a schema's refusal.
	MessageBadPayload = "Invalid payload"
	// MessageForbidden is loly's message for a guard's refusal.
	MessageForbidden = "Access denied"
	// MessageRateLimit is loly's message for the socket's own limit.
	MessageRateLimit = "Rate limit exceeded"
	// MessageEventRateLimit is loly's message for an event's own limit.
	MessageEventRateLimit = "Event rate limit exceeded"
	// MessageInternal is loly's message for a handler that failed.
	MessageInternal = "An error occurred while processing your request"
)

// ErrorHandler is a Config.ErrorHandler that sends the errors of the
// standard stages in loly's shape, for clients that read more than the code:
//
//   - BAD_PAYLOAD from a schema: message "Invalid payload", details
//     {error: {issues: [{code: "custom", path, message}], name: "ZodError"}},
//     the shape of the ZodError loly put there, one issue per field;
//   - FORBIDDEN from a guard: "Access denied", no details;
//   - RATE_LIMIT: "Rate limit exceeded", or "Event rate limit exceeded" for
//     an event's own limit, no details (no retryAfterMs);
//   - INTERNAL_ERROR: "An error occurred while processing your request".
//
// An application's own errors (Ctx.Error) pass unchanged, as loly's
// actions.error did. The payload keeps the fields the mux adds (event and
// requestId); the acks a client asks for get the same object.
func ErrorHandler(c *realtime.Ctx, err error) {
	realtime.DefaultErrorHandler(c, Error(err))
}

// Error returns err as loly would have sent it (see ErrorHandler), or nil
// for nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	var e *realtime.Error
	if !errors.As(err, &e) || e == nil {
		return &realtime.Error{Code: realtime.CodeInternal, Message: MessageInternal, Cause: err}
	}
	cp := *e
	if cp.Cause == nil && error(e) != err {
		cp.Cause = err
	}
	switch {
	case e.Code == realtime.CodeBadPayload && e.Cause != nil:
		// Schemas and Bind set the cause; an application's c.Error does not.
		cp.Message = MessageBadPayload
		cp.Details = map[string]any{"error": zodError(e)}
	case e.Code == realtime.CodeForbidden && e.Message == realtime.ErrForbidden.Message:
		cp.Message, cp.Details = MessageForbidden, nil
	case e.Code == realtime.CodeRateLimit && e.Message == realtime.ErrRateLimited.Message:
		cp.Message = MessageRateLimit
		if d, ok := e.Details.(map[string]any); ok && d["limit"] == "event" {
			cp.Message = MessageEventRateLimit
		}
		cp.Details = nil
	case e.Code == realtime.CodeInternal && e.Message == realtime.ErrInternal.Message:
		cp.Message, cp.Details = MessageInternal, nil
	}
	return &cp
}

// issue is one entry of a ZodError's issues.
type issue struct {
	Code    string `json:"code"`
	Path    []any  `json:"path"`
	Message string `json:"message"`
}

// zodError renders the field details of a BAD_PAYLOAD error (field to
// message, nested objects for nested fields) as a ZodError's JSON.
func zodError(e *realtime.Error) map[string]any {
	var issues []issue
	var walk func(path []any, v any)
	walk = func(path []any, v any) {
		switch d := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(d))
			for k := range d {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(append(path[:len(path):len(path)], k), d[k])
			}
		case string:
			issues = append(issues, issue{Code: "custom", Path: path, Message: d})
		}
	}
	walk([]any{}, e.Details)
	if len(issues) == 0 {
		issues = append(issues, issue{Code: "custom", Path: []any{}, Message: e.Message})
	}
	return map[string]any{"issues": issues, "name": "ZodError"}
}
