package ddm

import (
	"errors"
	"testing"
)

type mapEnv struct {
	status map[string]any
	props  map[string]any
}

func (e mapEnv) StatusValue(item string) any   { return e.status[item] }
func (e mapEnv) PropertyValue(name string) any { return e.props[name] }

func TestPredicateEval(t *testing.T) {
	t.Parallel()
	env := mapEnv{
		status: map[string]any{
			"device.operating-system.family":  "macOS",
			"device.operating-system.version": "15.7.1",
			"device.model.family":             "Mac",
			"device.model.identifier":         "Mac14,2",
			"device.model.marketing-name":     "MacBook Air (M2, 2022)",
			"management.client-capabilities":  map[string]any{"supported-versions": []string{"1.0.0"}},
			"test.list":                       []string{"a", "b"},
			"test.count":                      3,
			"test.flag":                       true,
		},
		props: map[string]any{"ring": "pilot", "floor": 3.0, "vip": true},
	}
	tests := []struct {
		pred string
		want bool
	}{
		{"", true},
		{"TRUEPREDICATE", true},
		{"falsepredicate", false},
		{"@status(device.operating-system.family) == 'macOS'", true},
		{`@status(device.operating-system.family) == "iOS"`, false},
		{"@status(device.operating-system.family) = 'macOS'", true},
		{"@status(device.operating-system.family) != 'macOS'", false},
		{"@status(device.operating-system.family) <> 'iOS'", true},
		{"@status(device.operating-system.family) ==[c] 'MACOS'", true},
		{"@status(device.operating-system.family) == 'MACOS'", false},
		{"@status(device.model.identifier) BEGINSWITH 'Mac14,'", true},
		{"@status(device.model.identifier) beginswith[c] 'mac1'", true},
		{"@status(device.model.marketing-name) ENDSWITH '2022)'", true},
		{"@status(device.model.marketing-name) CONTAINS 'M2'", true},
		{"@status(device.model.marketing-name) LIKE 'MacBook*(M?, 20??)'", true},
		{"@status(device.model.marketing-name) LIKE 'iMac*'", false},
		{"@status(device.model.identifier) MATCHES 'Mac1[0-9],[0-9]+'", true},
		{"@status(device.model.identifier) MATCHES 'Mac'", false},
		{"@status(device.model.family) IN {'Mac', 'iPad'}", true},
		{"@status(device.model.family) IN {'iPhone', 'iPad'}", false},
		{"'Mac' IN @status(device.model.marketing-name)", true},
		{"@status(test.list) CONTAINS 'b'", true},
		{"ANY @status(test.list) == 'a'", true},
		{"ALL @status(test.list) == 'a'", false},
		{"NONE @status(test.list) == 'z'", true},
		{"SOME @status(test.list) BEGINSWITH 'b'", true},
		// NSPredicate compares strings by code point, not as versions.
		{"@status(device.operating-system.version) >= '15.0'", true},
		{"@status(device.operating-system.version) < '9'", true},
		{"@status(device.operating-system.version) BETWEEN {'15', '16'}", true},
		{"@status(test.count) > 2", true},
		{"@status(test.count) BETWEEN {4, 9}", false},
		{"@status(test.count) == 3.0", true},
		{"@status(test.count) == '3'", false},
		{"@status(test.flag) == TRUE", true},
		{"@status(test.flag) == NO", false},
		{"@status(no.such.item) == nil", true},
		{"@status(no.such.item) == 'x'", false},
		{"@status(no.such.item) != 'x'", true},
		{"@status(management.client-capabilities) == 'x'", false},
		{"@property(ring) == 'pilot'", true},
		{"@property('ring') IN {'pilot', 'beta'}", true},
		{"@property(floor) >= 3", true},
		{"@property(vip) == YES", true},
		{"@property(missing) == NULL", true},
		{"@status(device.model.family) == 'Mac' AND @property(ring) == 'pilot'", true},
		{"@status(device.model.family) == 'Mac' && @property(ring) == 'prod'", false},
		{"@status(device.model.family) == 'iPhone' OR @property(ring) == 'pilot'", true},
		{"@status(device.model.family) == 'iPhone' || @property(ring) == 'prod'", false},
		{"NOT @status(device.model.family) == 'iPhone'", true},
		{"!(@status(device.model.family) == 'Mac')", false},
		{"(@status(device.model.family) == 'iPhone' OR @status(device.model.family) == 'Mac') AND NOT (@property(vip) == NO)", true},
		{"'caf\u00e9' ==[cd] 'CAFE'", true},
		{"'caf\u00e9' ==[c] 'CAFE'", false},
		{`'it\'s' == "it's"`, true},
	}
	for _, tt := range tests {
		p, err := ParsePredicate(tt.pred)
		if err != nil {
			t.Errorf("ParsePredicate(%q): %v", tt.pred, err)
			continue
		}
		if have := p.Eval(env); have != tt.want {
			t.Errorf("%q: have %v, want %v", tt.pred, have, tt.want)
		}
	}
}

func TestPredicateParseErrors(t *testing.T) {
	t.Parallel()
	for _, pred := range []string{
		"device.model.family == 'Mac'",             // a key path: not for DDM
		"@status(device.model.family)",             // no operator
		"@status(device.model.family) ==",          // no right side
		"@status(device.model.family) === 'Mac'",   // unknown operator
		"@status(device.model.family) == 'Mac",     // unterminated string
		"@status(device.model.family == 'Mac'",     // unclosed function
		"@foo(x) == 'y'",                           // unknown function
		"@status() == 'y'",                         // no item
		"(@status(a) == 'b'",                       // unclosed paren
		"@status(a) == 'b' AND",                    // dangling AND
		"@status(a) == 'b' XOR @status(c) == 'd'",  // unknown connective
		"SUBQUERY(x, $y, $y == 1).@count > 0",      // subquery
		"@status(a) == $VAR",                       // variables
		"@status(a) MATCHES '['",                   // bad regular expression
		"@status(a) BETWEEN 'x'",                   // BETWEEN needs bounds
		"@status(a) ==[x] 'b'",                     // unknown modifier
		"@status(a) IN {'a', 'b'",                  // unclosed array
		"@status(a) == 1.2.3",                      // bad number
		"@status(a) == 'b' 'c'",                    // trailing token
		string(make([]byte, MaxPredicateLength+1)), // too long
		repeat("(", maxPredicateDepth+1) + "TRUEPREDICATE" + repeat(")", maxPredicateDepth+1),
		repeat("NOT ", maxPredicateDepth+1) + "TRUEPREDICATE",
	} {
		if _, err := ParsePredicate(pred); !errors.Is(err, ErrPredicate) {
			name := pred
			if len(name) > 60 {
				name = name[:60]
			}
			t.Errorf("ParsePredicate(%q): err %v, want a parse error", name, err)
		}
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestLikeMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s, pattern string
		want       bool
	}{
		{"", "", true},
		{"", "*", true},
		{"a", "", false},
		{"abc", "a*c", true},
		{"abc", "a?c", true},
		{"abc", "a?", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*c", false},
		{"MacBook Air", "*Air", true},
	}
	for _, tt := range tests {
		if have := likeMatch(tt.s, tt.pattern); have != tt.want {
			t.Errorf("likeMatch(%q, %q) = %v, want %v", tt.s, tt.pattern, have, tt.want)
		}
	}
}
