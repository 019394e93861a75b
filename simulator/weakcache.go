package simulator

import (
	"runtime"
	"sync"
	"weak"
)

// weakCache shares one parsed value among the devices that received the
// same bytes (keyed by a hash of them). Entries are weak: a value no device
// holds any more is collected, and its entry goes with it.
type weakCache[T any] struct {
	mu sync.Mutex
	m  map[[32]byte]weak.Pointer[T]
}

// get returns the value kept for key, or makes one with make and keeps it.
// make runs without the lock; when two devices make the same value at
// once, the first kept wins. A make that fails keeps nothing.
func (c *weakCache[T]) get(key [32]byte, make func() (*T, error)) (*T, error) {
	c.mu.Lock()
	if wp, ok := c.m[key]; ok {
		if v := wp.Value(); v != nil {
			c.mu.Unlock()
			return v, nil
		}
	}
	c.mu.Unlock()
	v, err := make()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if wp, ok := c.m[key]; ok {
		if kept := wp.Value(); kept != nil {
			return kept, nil // another device made it meanwhile
		}
	}
	if c.m == nil {
		c.m = map[[32]byte]weak.Pointer[T]{}
	}
	c.m[key] = weak.Make(v)
	runtime.AddCleanup(v, func(k [32]byte) {
		c.mu.Lock()
		if wp, ok := c.m[k]; ok && wp.Value() == nil {
			delete(c.m, k)
		}
		c.mu.Unlock()
	}, key)
	return v, nil
}
