package catalog

import (
	"cmp"
	"errors"
	"testing"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Version
		str     string
		wantErr bool
	}{
		{in: "26", want: Version{26, 0, 0}, str: "26.0"},
		{in: "26.1", want: Version{26, 1, 0}, str: "26.1"},
		{in: "26.0", want: Version{26, 0, 0}, str: "26.0"},
		{in: "26.0.1", want: Version{26, 0, 1}, str: "26.0.1"},
		{in: "15.7.9", want: Version{15, 7, 9}, str: "15.7.9"},
		{in: "26.1.0", want: Version{26, 1, 0}, str: "26.1"},
		{in: "", wantErr: true},
		{in: "26.", wantErr: true},
		{in: ".1", wantErr: true},
		{in: "26.1.2.3", wantErr: true},
		{in: "26.a", wantErr: true},
		{in: "-1.0", wantErr: true},
		{in: "+1.0", wantErr: true},
		{in: " 26.1", wantErr: true},
		{in: "26.1 (a)", wantErr: true},
		{in: "9999999.1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseVersion(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrVersion) {
					t.Fatalf("ParseVersion(%q) error = %v, want ErrVersion", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVersion(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseVersion(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

func TestVersionCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"26.1", "26.1", 0},
		{"26.1", "26.1.0", 0},
		{"26.0.1", "26.1", -1},
		{"26.1", "26.0.1", 1},
		{"15.7.9", "26.0", -1},
		{"26.10", "26.9", 1},
		{"26.1.10", "26.1.9", 1},
	}
	for _, tt := range tests {
		a, b := MustParseVersion(tt.a), MustParseVersion(tt.b)
		if got := a.Compare(b); got != tt.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(a); got != -tt.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
		if got := a.Less(b); got != (tt.want < 0) {
			t.Errorf("%s.Less(%s) = %v", tt.a, tt.b, got)
		}
	}
}

func TestCompareBuilds(t *testing.T) {
	t.Parallel()
	ordered := []string{"22H730", "23G83", "23G6083", "23G8083", "24A335", "25D2128", "25D771280a", "25D771280b", "25E246", "garbage", "zzz"}
	for i := range ordered {
		for j := range ordered {
			want := cmp.Compare(i, j)
			if got := compareBuilds(ordered[i], ordered[j]); got != want {
				t.Errorf("compareBuilds(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}
