package kvtree

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/micromdm/nanolib/storage/kv"
)

type op struct {
	value []byte
	del   bool
}

// Txn is a transaction on a Store: its writes are staged, visible to its
// own reads, and applied together by Commit or dropped by Rollback. Other
// readers see none of them until Commit. After Commit or Rollback the Txn
// reads and writes the store directly, as the Store does.
type Txn struct {
	s    *Store
	mu   sync.Mutex // guards ops and done: a Txn may be shared by goroutines
	ops  map[string]op
	done bool
}

var _ kv.BucketTxnCompleter = (*Txn)(nil)

// staged returns the staged operation on key, if there is one.
func (t *Txn) staged(key string) (op, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.ops[key] // nil after the end: nothing staged
	return o, ok
}

// Get returns the value at key as the transaction sees it.
func (t *Txn) Get(ctx context.Context, key string) ([]byte, error) {
	if o, ok := t.staged(key); ok {
		if o.del {
			return nil, notFound(key)
		}
		return o.value, nil
	}
	return t.s.Get(ctx, key)
}

// Has reports whether key is set as the transaction sees it.
func (t *Txn) Has(ctx context.Context, key string) (bool, error) {
	if o, ok := t.staged(key); ok {
		return !o.del, nil
	}
	return t.s.Has(ctx, key)
}

// Set stages key = value.
func (t *Txn) Set(ctx context.Context, key string, value []byte) error {
	return t.stage(ctx, key, op{value: value})
}

// Delete stages the removal of key.
func (t *Txn) Delete(ctx context.Context, key string) error {
	return t.stage(ctx, key, op{del: true})
}

func (t *Txn) stage(ctx context.Context, key string, o op) error {
	t.mu.Lock()
	if !t.done {
		t.ops[key] = o
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	if o.del {
		return t.s.Delete(ctx, key)
	}
	return t.s.Set(ctx, key, o.value)
}

// Keys returns every key as the transaction sees it, in ascending order.
func (t *Txn) Keys(ctx context.Context, cancel <-chan struct{}) <-chan string {
	return t.KeysPrefix(ctx, "", cancel)
}

// KeysPrefix returns the keys with prefix as the transaction sees it, in
// ascending order; see Store.KeysPrefix.
func (t *Txn) KeysPrefix(ctx context.Context, prefix string, cancel <-chan struct{}) <-chan string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || len(t.ops) == 0 {
		return t.s.KeysPrefix(ctx, prefix, cancel)
	}
	var set, del []string // staged keys with prefix
	for k, o := range t.ops {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if o.del {
			del = append(del, k)
		} else {
			set = append(set, k)
		}
	}
	t.s.mu.RLock()
	stored := t.s.prefixLocked(prefix, nil)
	t.s.mu.RUnlock()
	if len(set) == 0 && len(del) == 0 {
		return closedChan(stored)
	}
	slices.Sort(set)
	slices.Sort(del)
	return closedChan(merge(stored, set, del))
}

// merge returns the sorted union of the sorted stored and set, less the
// sorted del.
func merge(stored, set, del []string) []string {
	out := make([]string, 0, len(stored)+len(set))
	i, j := 0, 0
	for i < len(stored) || j < len(set) {
		var k string
		switch {
		case j == len(set) || (i < len(stored) && stored[i] < set[j]):
			k, i = stored[i], i+1
		case i == len(stored) || set[j] < stored[i]:
			k, j = set[j], j+1
		default: // equal
			k, i, j = set[j], i+1, j+1
		}
		if _, gone := slices.BinarySearch(del, k); !gone {
			out = append(out, k)
		}
	}
	return out
}

// Commit applies the staged writes at once and ends the transaction.
// Committing an ended transaction does nothing.
func (t *Txn) Commit(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	if len(t.ops) > 0 {
		t.s.mu.Lock()
		for k, o := range t.ops {
			if o.del {
				t.s.tree.Delete(entry{key: k})
			} else {
				t.s.tree.ReplaceOrInsert(entry{key: k, value: o.value})
			}
		}
		t.s.mu.Unlock()
	}
	t.end()
	return nil
}

// Rollback drops the staged writes and ends the transaction. Rolling back
// an ended transaction does nothing.
func (t *Txn) Rollback(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.end()
	}
	return nil
}

// end lets the next transaction begin; callers hold t.mu.
func (t *Txn) end() {
	t.ops, t.done = nil, true
	<-t.s.txn
}
