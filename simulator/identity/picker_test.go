package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

type seq []float64

func (s *seq) Float64() float64 {
	v := (*s)[0]
	*s = (*s)[1:]
	return v
}

func TestWeightedPick(t *testing.T) {
	t.Parallel()
	var w weighted[string]
	w.add("a", 1)
	w.add("zero", 0)
	w.add("b", 3)
	w.add("nan", -1)
	for _, tt := range []struct {
		u    float64
		want string
	}{{0, "a"}, {0.2499, "a"}, {0.25, "b"}, {0.9999, "b"}} {
		r := seq{tt.u}
		if have, ok := w.pick(&r); !ok || have != tt.want {
			t.Errorf("pick(%v) = %q, want %q", tt.u, have, tt.want)
		}
	}
	var empty weighted[string]
	if _, ok := empty.pick(&seq{0.5}); ok {
		t.Error("an empty table picked something")
	}
}

func TestModelWeightFunc(t *testing.T) {
	t.Parallel()
	w, err := ModelWeightFunc(map[string]float64{"*": 1, "iPhone17,*": 5, "iPhone17,3": 2, "Mac*": 0})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]float64{"iPhone17,3": 2, "iPhone17,1": 5, "iPhone15,2": 1, "Mac14,2": 0} {
		m, _ := catalog.ModelRef(id)
		if have := w(m); have != want {
			t.Errorf("%s weighs %v, want %v", id, have, want)
		}
	}
	if _, err := ModelWeightFunc(map[string]float64{"Pixel*": 1}); err == nil || !strings.Contains(err.Error(), "Pixel*") {
		t.Errorf("a key that matches nothing: %v", err)
	}
}

func TestNewPickerErrors(t *testing.T) {
	t.Parallel()
	noMac, _ := ModelWeightFunc(map[string]float64{"iPhone*": 1})
	if _, err := NewPicker(PickerConfig{ModelWeight: noMac}); err == nil || !strings.Contains(err.Error(), "macOS") {
		t.Errorf("no Mac of positive weight: %v", err)
	}
	if _, err := NewPicker(PickerConfig{TimeZones: map[string]float64{"Nowhere/Land": 1}}); err == nil {
		t.Error("an unknown time zone was accepted")
	}
	// iOS 17 shipped for no model before 2023: a start then leaves no release.
	if _, err := NewPicker(PickerConfig{ShippedBy: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a start before any release was accepted")
	}
	// Shares naming only majors no model runs by the start.
	_, err := NewPicker(PickerConfig{OSShares: map[catalog.Platform]map[int]float64{catalog.IOS: {9: 1}}})
	if err == nil || !strings.Contains(err.Error(), "runs any major") {
		t.Errorf("shares of a major nothing runs: %v", err)
	}
}

// TestWeylStratifies: n consecutive draws put within one or two of n·share
// in each bucket, for every prefix.
func TestWeylStratifies(t *testing.T) {
	t.Parallel()
	p := &Picker{phase: 0.37}
	var w weighted[int]
	shares := []float64{0.6, 0.25, 0.15}
	for i, s := range shares {
		w.add(i, s)
	}
	counts := make([]int, len(shares))
	for k := range 200 {
		v, _ := w.pick(fixed(p.weyl(uint64(k))))
		counts[v]++
		for i, s := range shares {
			if d := float64(counts[i]) - s*float64(k+1); d > 2 || d < -2 {
				t.Fatalf("after %d draws bucket %d holds %d, want %.1f", k+1, i, counts[i], s*float64(k+1))
			}
		}
	}
}
