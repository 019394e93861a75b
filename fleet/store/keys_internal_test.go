package store

import (
	"runtime"
	"testing"
)

// TestKeyCacheLetsGo: a remembered object is not kept alive, and its entry
// goes once it is collected; a live one keeps its key.
func TestKeyCacheLetsGo(t *testing.T) {
	var c keyCache[[64]byte]
	kept := new([64]byte)
	c.put(kept, "kept")
	func() {
		gone := new([64]byte)
		c.put(gone, "gone")
		if k, ok := c.get(gone); !ok || k != "gone" {
			t.Fatalf("get: %q %v", k, ok)
		}
	}()
	// Cleanups run on their own goroutine after a collection.
	for i := 0; i < 1000 && c.len() > 1; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := c.len(); n != 1 {
		t.Errorf("%d entries after the collection, want 1", n)
	}
	if k, ok := c.get(kept); !ok || k != "kept" {
		t.Errorf("the live object's key: %q %v", k, ok)
	}
	c.forget("kept")
	if _, ok := c.get(kept); ok {
		t.Error("forget left the key")
	}
	runtime.KeepAlive(kept)
}
