package ddm

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrPredicate is the parse error of a predicate.
var ErrPredicate = errors.New("predicate")

type predParser struct {
	s     string
	pos   int
	depth int
}

// ParsePredicate parses an activation predicate. An empty predicate is
// true, as an absent one.
func ParsePredicate(s string) (Predicate, error) {
	if len(s) > MaxPredicateLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrPredicate, MaxPredicateLength)
	}
	p := &predParser{s: s}
	p.skipSpace()
	if p.pos == len(p.s) {
		return boolPred(true), nil
	}
	pred, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, p.errorf("unexpected %q", p.rest())
	}
	return pred, nil
}

func (p *predParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrPredicate, p.pos, fmt.Sprintf(format, args...))
}

func (p *predParser) rest() string {
	r := p.s[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (p *predParser) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

// peekWord returns the upper-cased identifier at the cursor, if any.
func (p *predParser) peekWord() string {
	p.skipSpace()
	i := p.pos
	for i < len(p.s) && (isLetter(p.s[i]) || (i > p.pos && isDigit(p.s[i]))) {
		i++
	}
	return strings.ToUpper(p.s[p.pos:i])
}

func (p *predParser) acceptWord(w string) bool {
	if p.peekWord() == w {
		p.pos += len(w)
		return true
	}
	return false
}

func (p *predParser) acceptSym(sym string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.s[p.pos:], sym) {
		p.pos += len(sym)
		return true
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func (p *predParser) enter() error {
	p.depth++
	if p.depth > maxPredicateDepth {
		return p.errorf("nested deeper than %d", maxPredicateDepth)
	}
	return nil
}

func (p *predParser) parseOr() (Predicate, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	list := orPred{first}
	for p.acceptWord("OR") || p.acceptSym("||") {
		next, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		list = append(list, next)
	}
	if len(list) == 1 {
		return first, nil
	}
	return list, nil
}

func (p *predParser) parseAnd() (Predicate, error) {
	first, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	list := andPred{first}
	for p.acceptWord("AND") || p.acceptSym("&&") {
		next, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		list = append(list, next)
	}
	if len(list) == 1 {
		return first, nil
	}
	return list, nil
}

func (p *predParser) parseNot() (Predicate, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.skipSpace()
	if p.acceptWord("NOT") || (!strings.HasPrefix(p.s[p.pos:], "!=") && p.acceptSym("!")) {
		inner, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return notPred{inner}, nil
	}
	if p.acceptSym("(") {
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if !p.acceptSym(")") {
			return nil, p.errorf("missing )")
		}
		return inner, nil
	}
	switch {
	case p.acceptWord("TRUEPREDICATE"):
		return boolPred(true), nil
	case p.acceptWord("FALSEPREDICATE"):
		return boolPred(false), nil
	}
	return p.parseComparison()
}

var wordOperators = []string{"BEGINSWITH", "ENDSWITH", "CONTAINS", "LIKE", "MATCHES", "IN", "BETWEEN"}

func (p *predParser) parseComparison() (Predicate, error) {
	c := &comparison{}
	for _, agg := range []string{"ANY", "SOME", "ALL", "NONE"} {
		if p.acceptWord(agg) {
			c.aggregate = agg
			if agg == "SOME" {
				c.aggregate = "ANY"
			}
			break
		}
	}
	left, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	c.left = left
	if c.op, err = p.parseOperator(); err != nil {
		return nil, err
	}
	if p.acceptSym("[") {
		for p.pos < len(p.s) && p.s[p.pos] != ']' {
			switch p.s[p.pos] {
			case 'c':
				c.fold = true
			case 'd':
				c.diacritic = true
			case 'n':
			default:
				return nil, p.errorf("unknown modifier %q", p.s[p.pos])
			}
			p.pos++
		}
		if !p.acceptSym("]") {
			return nil, p.errorf("missing ]")
		}
	}
	if c.right, err = p.parseValue(); err != nil {
		return nil, err
	}
	if c.op == "MATCHES" {
		if lit, ok := c.right.(literal); ok {
			s, ok := lit.v.(string)
			if !ok {
				return nil, p.errorf("MATCHES needs a string")
			}
			if c.fold {
				s = "(?i)" + s
			}
			if c.re, err = regexp.Compile(`^(?:` + s + `)$`); err != nil {
				return nil, p.errorf("MATCHES: %v", err)
			}
		}
	}
	if c.op == "BETWEEN" {
		if arr, ok := c.right.(arrayExpr); !ok || len(arr) != 2 {
			return nil, p.errorf("BETWEEN needs {lower, upper}")
		}
	}
	return c, nil
}

func (p *predParser) parseOperator() (string, error) {
	p.skipSpace()
	for _, op := range []struct{ sym, op string }{
		{"==", "=="}, {"!=", "!="}, {"<>", "!="}, {"<=", "<="}, {"=<", "<="}, {">=", ">="}, {"=>", ">="},
		{"<", "<"}, {">", ">"}, {"=", "=="},
	} {
		if p.acceptSym(op.sym) {
			return op.op, nil
		}
	}
	w := p.peekWord()
	for _, op := range wordOperators {
		if w == op {
			p.pos += len(op)
			return op, nil
		}
	}
	if p.pos == len(p.s) {
		return "", p.errorf("missing operator")
	}
	return "", p.errorf("unknown operator at %q", p.rest())
}

func (p *predParser) parseValue() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.skipSpace()
	if p.pos == len(p.s) {
		return nil, p.errorf("missing value")
	}
	switch c := p.s[p.pos]; {
	case c == '\'' || c == '"':
		s, err := p.parseString()
		if err != nil {
			return nil, err
		}
		return literal{s}, nil
	case c == '@':
		return p.parseFunction()
	case c == '{':
		p.pos++
		var arr arrayExpr
		if p.acceptSym("}") {
			return arr, nil
		}
		for {
			v, err := p.parseValue()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
			if p.acceptSym("}") {
				return arr, nil
			}
			if !p.acceptSym(",") {
				return nil, p.errorf("missing , or } in array")
			}
		}
	case isDigit(c) || c == '-' || c == '+' || c == '.':
		i := p.pos + 1
		for i < len(p.s) && (isDigit(p.s[i]) || strings.IndexByte(".eE+-", p.s[i]) >= 0) {
			i++
		}
		f, err := strconv.ParseFloat(p.s[p.pos:i], 64)
		if err != nil {
			return nil, p.errorf("bad number %q", p.s[p.pos:i])
		}
		p.pos = i
		return literal{f}, nil
	}
	switch w := p.peekWord(); w {
	case "TRUE", "YES":
		p.pos += len(w)
		return literal{true}, nil
	case "FALSE", "NO":
		p.pos += len(w)
		return literal{false}, nil
	case "NIL", "NULL":
		p.pos += len(w)
		return literal{nil}, nil
	}
	return nil, p.errorf("unsupported expression %q", p.rest())
}

func (p *predParser) parseString() (string, error) {
	quote := p.s[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == quote:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.s):
			p.pos++
			switch e := p.s[p.pos]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
		p.pos++
	}
	return "", p.errorf("unterminated string")
}

// parseFunction reads @status(name) or @property(name); the name may be
// bare or quoted.
func (p *predParser) parseFunction() (expr, error) {
	p.pos++ // @
	start := p.pos
	for p.pos < len(p.s) && isLetter(p.s[p.pos]) {
		p.pos++
	}
	name := p.s[start:p.pos]
	if name != "status" && name != "property" {
		return nil, p.errorf("unknown function @%s", name)
	}
	if !p.acceptSym("(") {
		return nil, p.errorf("missing ( after @%s", name)
	}
	p.skipSpace()
	var arg string
	if p.pos < len(p.s) && (p.s[p.pos] == '\'' || p.s[p.pos] == '"') {
		s, err := p.parseString()
		if err != nil {
			return nil, err
		}
		arg = s
	} else {
		start := p.pos
		for p.pos < len(p.s) && (isLetter(p.s[p.pos]) || isDigit(p.s[p.pos]) || strings.IndexByte(".-", p.s[p.pos]) >= 0) {
			p.pos++
		}
		arg = p.s[start:p.pos]
	}
	if arg == "" {
		return nil, p.errorf("@%s needs a name", name)
	}
	if !p.acceptSym(")") {
		return nil, p.errorf("missing ) after @%s(%s", name, arg)
	}
	if name == "status" {
		return statusRef(arg), nil
	}
	return propertyRef(arg), nil
}
