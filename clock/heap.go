package clock

import "time"

// slot is where a pending timer stands in a timerHeap: its deadline, the
// order it was armed in, an optional phase (Discrete), and its index.
type slot struct {
	when  int64 // deadline, nanoseconds after the clock's base
	phase int   // Discrete: within one instant, lower phases run first
	seq   uint64
	index int // position in the heap, -1 when not pending
}

func (s *slot) pending() bool { return s.index >= 0 }

// timerHeap is a binary min-heap ordered by (when, phase, seq) that keeps
// each timer's index current, so Stop removes a timer in O(log n).
type timerHeap []*timer

func (h timerHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if a.when != b.when {
		return a.when < b.when
	}
	if a.phase != b.phase {
		return a.phase < b.phase
	}
	return a.seq < b.seq
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) push(t *timer) {
	t.index = len(*h)
	*h = append(*h, t)
	h.up(t.index)
}

func (h *timerHeap) pop() *timer { return h.remove(0) }

func (h *timerHeap) remove(i int) *timer {
	old := *h
	n := len(old) - 1
	t := old[i]
	if i != n {
		old.swap(i, n)
	}
	old[n] = nil // let the timer be collected once its owner drops it
	*h = old[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.index = -1
	return t
}

func (h timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts i towards the leaves and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		child := 2*i + 1
		if child >= n {
			break
		}
		if r := child + 1; r < n && h.less(r, child) {
			child = r
		}
		if !h.less(child, i) {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}

// timer is a pending event of a Manual or Discrete clock, which keep their
// timers in a timerHeap under their own lock.
type timer struct {
	slot
	clk timerClock
	f   func()         // AfterFunc timers
	c   chan time.Time // NewTimer timers; buffered, drained by Stop and Reset
}

// timerClock is what a timer needs of the clock that owns it.
type timerClock interface {
	lock()
	unlock()
	armLocked(t *timer, d time.Duration)
	removeLocked(t *timer)
}

func (t *timer) C() <-chan time.Time { return t.c }

func (t *timer) Stop() bool {
	t.clk.lock()
	defer t.clk.unlock()
	return t.stopLocked()
}

func (t *timer) Reset(d time.Duration) bool {
	t.clk.lock()
	defer t.clk.unlock()
	active := t.stopLocked()
	t.clk.armLocked(t, d)
	return active
}

func (t *timer) stopLocked() bool {
	active := t.pending()
	if active {
		t.clk.removeLocked(t)
	}
	if t.c != nil {
		select {
		case <-t.c:
			active = true // fired but never received: it counts as stopped
		default:
		}
	}
	return active
}
