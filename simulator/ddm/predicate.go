package ddm

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Activation predicates are NSPredicate format strings. Devices evaluate
// them against their status items (@status(device.model.family)) and the
// properties of com.apple.management.properties declarations
// (@property(name)). This is the subset of Apple's predicate language those
// predicates use:
//
//	predicate  := or
//	or         := and { ("OR" | "||") and }
//	and        := not { ("AND" | "&&") not }
//	not        := ("NOT" | "!") not | "(" predicate ")" | TRUEPREDICATE | FALSEPREDICATE | comparison
//	comparison := [ANY | SOME | ALL | NONE] value operator ["[" c d n "]"] value
//	operator   := == = != <> < <= =< > >= => BEGINSWITH ENDSWITH CONTAINS LIKE MATCHES IN BETWEEN
//	value      := @status(item) | @property(name) | 'string' | "string" | number
//	              | TRUE | YES | FALSE | NO | NIL | NULL | "{" value, … "}"
//
// Keywords are case-insensitive. Anything else (key paths, other
// functions, subqueries, variables) does not parse, and the activation is
// invalid with Error.UnableToParsePredicate, as on a device. Comparisons
// follow NSPredicate: strings compare by code point (so "9.0" > "14.0"),
// numbers numerically, mismatched types are false, and a missing status item
// or property is nil.

// MaxPredicateLength bounds the predicate text a device parses.
const MaxPredicateLength = 4096

// maxPredicateDepth bounds nesting so a hostile predicate cannot exhaust
// the stack.
const maxPredicateDepth = 64

// PredicateEnv answers @status and @property.
type PredicateEnv interface {
	StatusValue(item string) any
	PropertyValue(name string) any
}

// Predicate is a parsed activation predicate.
type Predicate interface {
	Eval(env PredicateEnv) bool
}

type boolPred bool

func (p boolPred) Eval(PredicateEnv) bool { return bool(p) }

type notPred struct{ p Predicate }

func (p notPred) Eval(env PredicateEnv) bool { return !p.p.Eval(env) }

type andPred []Predicate

func (p andPred) Eval(env PredicateEnv) bool {
	for _, q := range p {
		if !q.Eval(env) {
			return false
		}
	}
	return true
}

type orPred []Predicate

func (p orPred) Eval(env PredicateEnv) bool {
	for _, q := range p {
		if q.Eval(env) {
			return true
		}
	}
	return false
}

// expr is a value in a comparison.
type expr interface {
	value(env PredicateEnv) any
}

type literal struct{ v any }

func (l literal) value(PredicateEnv) any { return l.v }

type statusRef string

func (s statusRef) value(env PredicateEnv) any { return normalizeValue(env.StatusValue(string(s))) }

type propertyRef string

func (s propertyRef) value(env PredicateEnv) any { return normalizeValue(env.PropertyValue(string(s))) }

type arrayExpr []expr

func (a arrayExpr) value(env PredicateEnv) any {
	out := make([]any, len(a))
	for i, e := range a {
		out[i] = e.value(env)
	}
	return out
}

type comparison struct {
	aggregate string // "", ANY, ALL, NONE
	left      expr
	op        string
	right     expr
	fold      bool // [c]
	diacritic bool // [d]
	re        *regexp.Regexp
}

func (c *comparison) Eval(env PredicateEnv) bool {
	l, r := c.left.value(env), c.right.value(env)
	if c.aggregate == "" {
		return c.compare(l, r)
	}
	arr, ok := l.([]any)
	if !ok {
		return false
	}
	n := 0
	for _, el := range arr {
		if c.compare(el, r) {
			n++
		}
	}
	switch c.aggregate {
	case "ANY":
		return n > 0
	case "ALL":
		return n == len(arr)
	default: // NONE
		return n == 0
	}
}

func (c *comparison) compare(l, r any) bool {
	switch c.op {
	case "==":
		return c.equal(l, r)
	case "!=":
		return !c.equal(l, r)
	case "<", "<=", ">", ">=":
		cmp, ok := c.order(l, r)
		if !ok {
			return false
		}
		switch c.op {
		case "<":
			return cmp < 0
		case "<=":
			return cmp <= 0
		case ">":
			return cmp > 0
		}
		return cmp >= 0
	case "BEGINSWITH", "ENDSWITH", "LIKE", "MATCHES":
		ls, lok := l.(string)
		rs, rok := r.(string)
		if !lok || !rok {
			return false
		}
		ls, rs = c.fold2(ls), c.fold2(rs)
		switch c.op {
		case "BEGINSWITH":
			return strings.HasPrefix(ls, rs)
		case "ENDSWITH":
			return strings.HasSuffix(ls, rs)
		case "LIKE":
			return likeMatch(ls, rs)
		}
		re := c.re
		if re == nil {
			var err error
			if re, err = regexp.Compile(`^(?:` + rs + `)$`); err != nil {
				return false
			}
		}
		return re.MatchString(ls)
	case "CONTAINS":
		if arr, ok := l.([]any); ok {
			return c.member(r, arr)
		}
		ls, lok := l.(string)
		rs, rok := r.(string)
		return lok && rok && strings.Contains(c.fold2(ls), c.fold2(rs))
	case "IN":
		if arr, ok := r.([]any); ok {
			return c.member(l, arr)
		}
		ls, lok := l.(string)
		rs, rok := r.(string)
		return lok && rok && strings.Contains(c.fold2(rs), c.fold2(ls))
	case "BETWEEN":
		bounds, ok := r.([]any)
		if !ok || len(bounds) != 2 {
			return false
		}
		lo, ok1 := c.order(l, bounds[0])
		hi, ok2 := c.order(l, bounds[1])
		return ok1 && ok2 && lo >= 0 && hi <= 0
	}
	return false
}

func (c *comparison) member(v any, arr []any) bool {
	for _, el := range arr {
		if c.equal(v, el) {
			return true
		}
	}
	return false
}

func (c *comparison) equal(l, r any) bool {
	switch x := l.(type) {
	case nil:
		return r == nil
	case string:
		y, ok := r.(string)
		return ok && c.fold2(x) == c.fold2(y)
	case float64:
		y, ok := r.(float64)
		return ok && x == y
	case bool:
		y, ok := r.(bool)
		return ok && x == y
	case []any:
		y, ok := r.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !c.equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func (c *comparison) order(l, r any) (int, bool) {
	switch x := l.(type) {
	case string:
		y, ok := r.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(c.fold2(x), c.fold2(y)), true
	case float64:
		y, ok := r.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// fold2 applies the [c] and [d] modifiers.
func (c *comparison) fold2(s string) string {
	if c.diacritic {
		s = stripDiacritics(s)
	}
	if c.fold {
		s = strings.ToLower(s)
	}
	return s
}

func stripDiacritics(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// likeMatch is NSPredicate LIKE: * any run, ? one character.
func likeMatch(s, pattern string) bool {
	sr, pr := []rune(s), []rune(pattern)
	// Iterative wildcard match with backtracking to the last star: linear
	// in practice, quadratic at worst, never exponential.
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			si++
			pi++
		case pi < len(pr) && pr[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}

// normalizeValue turns the Go values status items and payloads carry into
// the predicate's value space: string, float64, bool, nil, []any.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil
		}
		return f
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	}
	// Dictionaries compare equal to nothing.
	return v
}
