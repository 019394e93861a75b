package cpuload

import (
	"runtime"
	"testing"
)

// Not parallel: Starve sets GOMAXPROCS.
func TestStarve(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	stop := Starve()
	if p := runtime.GOMAXPROCS(0); p != 1 {
		t.Errorf("GOMAXPROCS %d while starving, want 1", p)
	}
	for range 100 {
		runtime.Gosched() // let the burners run
	}
	if spins := stop(); spins == 0 {
		t.Error("the burners never spun")
	}
	if p := runtime.GOMAXPROCS(0); p != before {
		t.Errorf("GOMAXPROCS %d after stop, want %d back", p, before)
	}
}
