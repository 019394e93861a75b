package simulator

import (
	"errors"
	"runtime"
	"testing"
)

// TestWeakCache: one value per key while devices hold it, made once; a
// failed make keeps nothing; a value nobody holds is collected with its
// entry.
func TestWeakCache(t *testing.T) {
	var c weakCache[[64]byte]
	made := 0
	mk := func() (*[64]byte, error) { made++; return new([64]byte), nil }
	a, _ := c.get([32]byte{1}, mk)
	b, _ := c.get([32]byte{1}, mk)
	if a != b || made != 1 {
		t.Errorf("the same key gave %p and %p, made %d times", a, b, made)
	}
	if _, err := c.get([32]byte{2}, func() (*[64]byte, error) { return nil, errors.New("bad") }); err == nil {
		t.Error("a failed make gave no error")
	}
	func() {
		_, _ = c.get([32]byte{3}, mk)
	}()
	count := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.m)
	}
	// Cleanups run on their own goroutine after a collection.
	for i := 0; i < 1000 && count() > 1; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := count(); n != 1 {
		t.Errorf("%d entries once only the first value is held, want 1", n)
	}
	runtime.KeepAlive(a)
}
