package hooks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ParseError is a mistake in a target file, where it was made.
type ParseError struct {
	File string
	Line int
	// Path names the setting, e.g. "operations.enqueue.http" (empty for
	// the document itself).
	Path string
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
}

// decoder walks a yaml.Node tree strictly: every error carries the file
// and line, unknown and repeated keys are errors.
type decoder struct{ file string }

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) error {
	line := 1
	if n != nil && n.Line > 0 {
		line = n.Line
	}
	return &ParseError{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func pathJoin(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields calls fn for each key of the mapping n; fn returns false for a
// key it does not know.
func (d *decoder) fields(n *yaml.Node, path string, fn func(key string, k, v *yaml.Node) (bool, error)) error {
	if err := d.plain(n, path); err != nil {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return d.errf(n, path, "want a mapping, have %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := d.plain(k, path); err != nil {
			return err
		}
		if k.Kind != yaml.ScalarNode {
			return d.errf(k, path, "want a plain key, have %s", kindName(k))
		}
		if k.Tag == "!!merge" {
			return d.errf(k, path, "merge keys (<<) are not supported")
		}
		if seen[k.Value] {
			return d.errf(k, path, "field %q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := d.plain(v, pathJoin(path, k.Value)); err != nil {
			return err
		}
		known, err := fn(k.Value, k, v)
		if err != nil {
			return err
		}
		if !known {
			return d.errf(k, path, "unknown field %q", k.Value)
		}
	}
	return nil
}

// plain refuses anchors' aliases: a target file has no use for them and
// following them invites exponential documents.
func (d *decoder) plain(n *yaml.Node, path string) error {
	if n.Kind == yaml.AliasNode {
		return d.errf(n, path, "aliases (*name) are not supported")
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// str reads a scalar as text (numbers and booleans included: a password
// may well be 1234).
func (d *decoder) str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errf(n, path, "want a string, have %s", kindName(n))
	}
	return n.Value, nil
}

func (d *decoder) nonEmpty(n *yaml.Node, path string) (string, error) {
	s, err := d.str(n, path)
	if err == nil && strings.TrimSpace(s) == "" {
		err = d.errf(n, path, "must not be empty")
	}
	return s, err
}

func (d *decoder) intval(n *yaml.Node, path string, lo, hi int) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, d.errf(n, path, "want a whole number, have %s", kindName(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		return 0, d.errf(n, path, "want a number from %d to %d, have %s", lo, hi, n.Value)
	}
	return v, nil
}

// duration reads a Go duration ("30s", "1m30s"); a bare 0 is zero.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, error) {
	s, err := d.str(n, path)
	if err != nil {
		return 0, err
	}
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, d.errf(n, path, "want a duration such as 30s or 2m, have %q", s)
	}
	if v < 0 {
		return 0, d.errf(n, path, "must not be negative, have %s", s)
	}
	return v, nil
}

// expand replaces ${NAME} with the environment variable NAME (empty when
// unset) and ${NAME:-default} with default when NAME is unset or empty;
// default may itself hold ${...}. Anything else, a lone $ included, stays.
func expand(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i+2:]
		depth, end := 1, -1
		for j := 0; j < len(s); j++ {
			switch {
			case strings.HasPrefix(s[j:], "${"):
				depth++
				j++
			case s[j] == '}':
				depth--
			}
			if depth == 0 {
				end = j
				break
			}
		}
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", "${"+s)
		}
		inner := s[:end]
		s = s[end+1:]
		name, def, hasDef := strings.Cut(inner, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("bad variable name %q in ${%s}", name, inner)
		}
		v := getenv(name)
		if v == "" && hasDef {
			var err error
			if v, err = expand(def, getenv); err != nil {
				return "", err
			}
		}
		b.WriteString(v)
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
