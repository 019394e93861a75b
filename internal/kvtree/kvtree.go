package kvtree

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/btree"
	"github.com/micromdm/nanolib/storage/kv"
)

// degree is the B-tree's branching: 32 keeps nodes within a few cache
// lines of pointers and the tree shallow (three levels hold ~100 000 keys).
const degree = 32

type entry struct {
	key   string
	value []byte
}

func less(a, b entry) bool { return a.key < b.key }

// Store is an ordered in-memory bucket, safe for concurrent use. It
// implements kv.TxnBucketWithCRUD and kv.TxnKeysPrefixTraversingBucket;
// outside a transaction every write is applied at once (Commit and
// Rollback on the Store itself do nothing).
type Store struct {
	mu   sync.RWMutex
	tree *btree.BTreeG[entry]

	// txn admits one transaction at a time (see the package doc).
	txn chan struct{}
}

var (
	_ kv.TxnBucketWithCRUD             = (*Store)(nil)
	_ kv.TxnKeysPrefixTraversingBucket = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{tree: btree.NewG(degree, less), txn: make(chan struct{}, 1)}
}

func notFound(key string) error { return fmt.Errorf("%w: %s", kv.ErrKeyNotFound, key) }

// Get returns the value at key, or an error wrapping kv.ErrKeyNotFound.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.RLock()
	e, ok := s.tree.Get(entry{key: key})
	s.mu.RUnlock()
	if !ok {
		return nil, notFound(key)
	}
	return e.value, nil
}

// Has reports whether key is set.
func (s *Store) Has(_ context.Context, key string) (bool, error) {
	s.mu.RLock()
	ok := s.tree.Has(entry{key: key})
	s.mu.RUnlock()
	return ok, nil
}

// Set sets key to value.
func (s *Store) Set(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	s.tree.ReplaceOrInsert(entry{key: key, value: value})
	s.mu.Unlock()
	return nil
}

// Delete removes key; removing a key that is not set is not an error.
func (s *Store) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	s.tree.Delete(entry{key: key})
	s.mu.Unlock()
	return nil
}

// Len is the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.Len()
}

// Keys returns every key, in ascending order.
func (s *Store) Keys(ctx context.Context, cancel <-chan struct{}) <-chan string {
	return s.KeysPrefix(ctx, "", cancel)
}

// KeysPrefix returns the keys that begin with prefix, in ascending order,
// as of the call. The channel is buffered and closed: the caller may stop
// reading at any point (cancel is not needed) and may write to the store
// meanwhile.
func (s *Store) KeysPrefix(_ context.Context, prefix string, _ <-chan struct{}) <-chan string {
	s.mu.RLock()
	keys := s.prefixLocked(prefix, nil)
	s.mu.RUnlock()
	return closedChan(keys)
}

// prefixLocked appends the keys with prefix to dst; callers hold s.mu.
func (s *Store) prefixLocked(prefix string, dst []string) []string {
	s.tree.AscendGreaterOrEqual(entry{key: prefix}, func(e entry) bool {
		if !strings.HasPrefix(e.key, prefix) {
			return false
		}
		dst = append(dst, e.key)
		return true
	})
	return dst
}

func closedChan(keys []string) <-chan string {
	c := make(chan string, len(keys))
	for _, k := range keys {
		c <- k
	}
	close(c)
	return c
}

// Commit does nothing: outside a transaction writes are applied at once.
func (s *Store) Commit(context.Context) error { return nil }

// Rollback does nothing: outside a transaction there is nothing staged.
func (s *Store) Rollback(context.Context) error { return nil }

// Begin starts a transaction, waiting until no other transaction on s is
// running or ctx ends. The caller must Commit or Roll it back.
func (s *Store) Begin(ctx context.Context) (*Txn, error) {
	select {
	case s.txn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("kvtree: begin: %w", ctx.Err())
	}
	return &Txn{s: s, ops: map[string]op{}}, nil
}

// BeginCRUDBucketTxn is Begin for kv.CRUDBucketTxnBeginner.
func (s *Store) BeginCRUDBucketTxn(ctx context.Context) (kv.CRUDBucketTxnCompleter, error) {
	return s.Begin(ctx)
}

// BeginBucketTxn is Begin for kv.BucketTxnBeginner.
func (s *Store) BeginBucketTxn(ctx context.Context) (kv.BucketTxnCompleter, error) {
	return s.Begin(ctx)
}

// BeginKeysPrefixTraversingBucketTxn is Begin for
// kv.KeysPrefixTraversingBucketTxnBeginner.
func (s *Store) BeginKeysPrefixTraversingBucketTxn(ctx context.Context) (kv.KeysPrefixTraversingBucketTxnCompleter, error) {
	return s.Begin(ctx)
}
