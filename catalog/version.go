package catalog

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrVersion is returned (wrapped) by ParseVersion for a string that is not
// an Apple OS version.
var ErrVersion = errors.New("catalog: invalid version")

// Version is an OS version as Apple writes it in ProductVersion: "26.1",
// "26.0.1", "15.7.9".
type Version struct{ Major, Minor, Patch int }

// ParseVersion parses "26", "26.1" or "26.0.1". Missing parts are zero.
func ParseVersion(s string) (Version, error) {
	if s == "" || len(s) > 32 {
		return Version{}, fmt.Errorf("%w: %q", ErrVersion, s)
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return Version{}, fmt.Errorf("%w: %q", ErrVersion, s)
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || len(p) > 6 {
			return Version{}, fmt.Errorf("%w: %q", ErrVersion, s)
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return Version{}, fmt.Errorf("%w: %q", ErrVersion, s)
			}
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, fmt.Errorf("%w: %q", ErrVersion, s)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

// MustParseVersion is ParseVersion for constants in code and tests; it panics
// on a malformed version.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.Major != w.Major:
		return cmp.Compare(v.Major, w.Major)
	case v.Minor != w.Minor:
		return cmp.Compare(v.Minor, w.Minor)
	default:
		return cmp.Compare(v.Patch, w.Patch)
	}
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }

// IsZero reports whether v is the zero Version (what an unparsable
// ProductVersion yields).
func (v Version) IsZero() bool { return v == Version{} }

// String prints the version as Apple does: "26.0", "26.1", "26.0.1" (a zero
// patch is left out, a zero minor is not).
func (v Version) String() string {
	if v.Patch == 0 {
		return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
	}
	return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
}

// build is a parsed Apple build number: "25D771280a" is train 25, letter D,
// number 771280, suffix "a".
type build struct {
	train  int
	letter byte
	number int
	suffix string
	ok     bool
}

func parseBuild(s string) build {
	var b build
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 3 || i >= len(s) {
		return b
	}
	b.train, _ = strconv.Atoi(s[:i])
	c := s[i]
	if c < 'A' || c > 'Z' {
		return b
	}
	b.letter = c
	i++
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i || j-i > 9 {
		return b
	}
	b.number, _ = strconv.Atoi(s[i:j])
	b.suffix = s[j:]
	b.ok = true
	return b
}

// compareBuilds orders Apple build numbers ("23G83" < "23G6083" <
// "24A335"); unparsable builds sort after parsable ones, by string.
func compareBuilds(x, y string) int {
	a, b := parseBuild(x), parseBuild(y)
	switch {
	case a.ok && !b.ok:
		return -1
	case !a.ok && b.ok:
		return 1
	case !a.ok && !b.ok:
		return strings.Compare(x, y)
	case a.train != b.train:
		return cmp.Compare(a.train, b.train)
	case a.letter != b.letter:
		return cmp.Compare(int(a.letter), int(b.letter))
	case a.number != b.number:
		return cmp.Compare(a.number, b.number)
	}
	return strings.Compare(a.suffix, b.suffix)
}
