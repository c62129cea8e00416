package wire

import "encoding/json"

// maxValidDepth is how deep Valid follows nesting on its own stack; deeper
// documents are checked by encoding/json, which has no such limit.
const maxValidDepth = 64

// Valid reports whether b is one JSON value (RFC 8259), surrounded by
// whitespace at most, as encoding/json's Valid does. It walks the bytes
// once, without recursion and without allocating: on the envelopes of every
// event it costs a third of encoding/json's scanner. It does not check
// UTF-8; Decode does that first.
func Valid(b []byte) bool {
	var stack [maxValidDepth]byte // '{' or '[' for each open container
	depth := 0
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			i = skipSpace(b, i+1)
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if i < len(b) && b[i] == closer {
				i++
				break // an empty container is a whole value
			}
			if depth == maxValidDepth {
				return json.Valid(b)
			}
			stack[depth] = c
			depth++
			if c == '{' {
				if i = validKey(b, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			if i = validString(b, i); i < 0 {
				return false
			}
		case 't':
			if i = validLiteral(b, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = validLiteral(b, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = validLiteral(b, i, "null"); i < 0 {
				return false
			}
		default:
			if i = validNumber(b, i); i < 0 {
				return false
			}
		}
		// A value ended at i: what follows it closes containers, or
		// separates it from the next.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			open := stack[depth-1]
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if open == '{' {
					if i = validKey(b, i); i < 0 {
						return false
					}
				}
			case '}', ']':
				if (b[i] == '}') != (open == '{') {
					return false
				}
				depth--
				i++
				continue
			default:
				return false
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
