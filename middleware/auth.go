package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/lolyjs/realtime"
)

// AuthOpts configures AuthWithOpts.
type AuthOpts struct {
	// Hook authenticates a connecting socket. A route's own Route.Auth
	// replaces it for that route's namespace. Nil means every socket is
	// anonymous unless a route says otherwise.
	Hook realtime.AuthFunc
	// Required refuses sockets the hook leaves anonymous (nil user, nil
	// error) with UNAUTHORIZED, closing them with 4401.
	Required bool
}

// Auth authenticates each socket once, at connect: the route's Auth hook, or
// hook, gets the handshake (Ctx.Request: headers, cookies, query, address)
// and returns the user, which is bound to the socket for its whole life.
// From then on the user comes only from the socket: nothing a client puts in
// a payload or query changes who it is. A hook error refuses the socket
// with UNAUTHORIZED (or the code of an *realtime.Error it returns) and closes
// it with 4401. A nil user with a nil error leaves the socket anonymous; see
// AuthOpts.Required and RequireUser to refuse those. It enforces
// realtime.SettingAuth.
func Auth(hook realtime.AuthFunc) func(realtime.Handler) realtime.Handler {
	return AuthWithOpts(AuthOpts{Hook: hook})
}

// AuthWithOpts is Auth with options.
func AuthWithOpts(opts AuthOpts) func(realtime.Handler) realtime.Handler {
	return realtime.Enforces(func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			if c.Kind() != realtime.KindConnect {
				return next(c)
			}
			hook := opts.Hook
			if r := c.Route(); r != nil && r.Auth != nil {
				hook = r.Auth
			}
			var user *realtime.User
			if hook != nil {
				u, err := hook(c)
				if err != nil {
					return unauthorized(err)
				}
				user = u
			}
			if user == nil && opts.Required {
				return realtime.ErrUnauthorized
			}
			if user != nil {
				if err := c.SetUser(user); err != nil {
					return unauthorized(err)
				}
			}
			return next(c)
		}
	}, realtime.SettingAuth)
}

// unauthorized keeps an *realtime.Error the hook chose and makes anything
// else UNAUTHORIZED, with the hook's error kept as the cause for logs only.
func unauthorized(err error) error {
	var e *realtime.Error
	if errors.As(err, &e) {
		return err
	}
	return &realtime.Error{Code: realtime.CodeUnauthorized, Message: realtime.ErrUnauthorized.Message, Cause: err}
}

// RequireUser refuses client events from sockets without a user with
// UNAUTHORIZED. Use it with With or Group for the events that need a user
// when anonymous sockets may connect.
func RequireUser(next realtime.Handler) realtime.Handler {
	return func(c *realtime.Ctx) error {
		if c.Kind() == realtime.KindEvent && c.User() == nil {
			return realtime.ErrUnauthorized
		}
		return next(c)
	}
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// CookieValue returns the value of the named cookie, or "".
func CookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// QueryToken returns the "token" query parameter, or "". Browsers cannot set
// headers on a WebSocket handshake, so they pass credentials this way or in
// a cookie.
func QueryToken(r *http.Request) string {
	return r.URL.Query().Get("token")
}

// Credential returns the first credential found on the handshake: a Bearer
// token, then the named cookie (when cookie is not empty), then the "token"
// query parameter.
func Credential(r *http.Request, cookie string) string {
	if t := BearerToken(r); t != "" {
		return t
	}
	if cookie != "" {
		if t := CookieValue(r, cookie); t != "" {
			return t
		}
	}
	return QueryToken(r)
}

// AuthToken returns the "token" field of the auth payload a Socket.IO client
// sends with its namespace connect (io(url, { auth: { token } })), or "".
// Call it from an auth hook; native clients have no auth payload.
func AuthToken(c *realtime.Ctx) string {
	if c.Kind() != realtime.KindConnect || len(c.Data()) == 0 {
		return ""
	}
	var auth struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(c.Data(), &auth) != nil {
		return ""
	}
	return auth.Token
}

// HandshakeToken returns the first credential of a connecting socket: the
// Socket.IO auth payload's token, then what Credential finds on the
// handshake request.
func HandshakeToken(c *realtime.Ctx, cookie string) string {
	if t := AuthToken(c); t != "" {
		return t
	}
	return Credential(c.Request(), cookie)
}
