package wire

// Valid reports whether b is one JSON value (RFC 8259), surrounded by
// whitespace at most, as encoding/json's Valid does. It walks the bytes
// once, without recursion, allocating only for nesting deeper than 64: on
// the envelopes of every event it costs a third of encoding/json's scanner.
// It does not check UTF-8; Decode does that first.
func Valid(b []byte) bool {
	end := validValue(b, skipSpace(b, 0), maxDepth)
	return end >= 0 && skipSpace(b, end) == len(b)
}

// maxDepth is the deepest nesting of arrays and objects a value may have,
// encoding/json's limit: deeper is invalid.
const maxDepth = 10000

// validValue checks the JSON value that starts at b[i], nested at most
// depth deep, and returns the index just past it, or -1.
func validValue(b []byte, i, depth int) int {
	var inline [64]byte
	stack := inline[:0] // '{' or '[' for each open container
	for {
		// A value starts at i.
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == depth {
				return -1 // one level too deep, empty or not
			}
			i = skipSpace(b, i+1)
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if i < len(b) && b[i] == closer {
				i++
				break // an empty container is a whole value
			}
			stack = append(stack, c)
			if c == '{' {
				if i = validKey(b, i); i < 0 {
					return -1
				}
			}
			continue
		case '"':
			i = validString(b, i)
		case 't':
			i = validLiteral(b, i, "true")
		case 'f':
			i = validLiteral(b, i, "false")
		case 'n':
			i = validLiteral(b, i, "null")
		default:
			i = validNumber(b, i)
		}
		if i < 0 {
			return -1
		}
		// A value ended at i: what follows it closes containers, or
		// separates it from the next.
		for {
			if len(stack) == 0 {
				return i
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			open := stack[len(stack)-1]
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if open == '{' {
					if i = validKey(b, i); i < 0 {
						return -1
					}
				}
			case '}', ']':
				if (b[i] == '}') != (open == '{') {
					return -1
				}
				stack = stack[:len(stack)-1]
				i++
				continue
			default:
				return -1
			}
			break
		}
	}
}

// validKey checks an object key and its colon at b[i] and returns the index
// of the value that follows, or -1.
func validKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// validString checks the string token at b[i] == '"' and returns the index
// just past it, or -1: no control characters, only JSON's escapes.
func validString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		for j < len(b) && plainByte[b[j]] {
			j++ // the common case, in a loop of its own
		}
		if j == len(b) {
			break
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1
		case c < 0x20:
			return -1
		case c == '\\':
			j++
			if j >= len(b) {
				return -1
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return -1
				}
				for _, h := range b[j+1 : j+5] {
					if !isHex(h) {
						return -1
					}
				}
				j += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// plainByte tells the bytes a string may hold as they are: not a quote, a
// backslash or a control character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func validLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// validNumber checks the number at b[i] and returns the index just past it,
// or -1: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// Compact reports whether the valid JSON b is already what encoding/json's
// Marshal makes of it as a json.RawMessage: no whitespace outside strings,
// and none of the characters Marshal escapes (<, > and & for HTML, U+2028
// and U+2029 for JavaScript). Such data can be sent as it is.
func Compact(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8:
			return false
		case in:
			if c == '\\' {
				i++ // an escape's second byte is never one of the above
			} else if c == '"' {
				in = false
			}
		case c == '"':
			in = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
