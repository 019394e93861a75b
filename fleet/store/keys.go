package store

import (
	"runtime"
	"sync"
	"weak"
)

// keyCache remembers the file key of shared objects (enrollment profiles,
// declarations) already written, without keeping them alive: the simulator
// shares them through a weak cache and drops them when no device holds
// them, and an entry here goes with its object. A new object of the same
// content gets the same key again (the content's hash).
type keyCache[T any] struct {
	mu sync.Mutex
	m  map[weak.Pointer[T]]string
}

func (c *keyCache[T]) get(p *T) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.m[weak.Make(p)]
	return k, ok
}

func (c *keyCache[T]) put(p *T, key string) {
	wp := weak.Make(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[weak.Pointer[T]]string{}
	}
	if _, ok := c.m[wp]; ok {
		return
	}
	c.m[wp] = key
	runtime.AddCleanup(p, func(wp weak.Pointer[T]) {
		c.mu.Lock()
		delete(c.m, wp)
		c.mu.Unlock()
	}, wp)
}

// forget drops the objects written under key (a batch that did not
// commit).
func (c *keyCache[T]) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for wp, k := range c.m {
		if k == key {
			delete(c.m, wp)
		}
	}
}

// len counts the objects remembered.
func (c *keyCache[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
