package kvtree_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micromdm/nanolib/storage/kv"
	kvtest "github.com/micromdm/nanolib/storage/kv/test"

	"github.com/mdmsim/mdmsim/internal/kvtree"
)

// nanolib's own bucket and transaction suites, which kvmap and kvtxn pass.
func TestNanolibSuites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kvtest.TestBucketSimple(t, ctx, kvtree.New())
	kvtest.TestKeysTraversing(t, ctx, kvtree.New())
	kvtest.TestTxnSimple(t, ctx, kvtree.New())
	kvtest.TestKVTxnKeys(t, ctx, kvtree.New())
}

func collect(c <-chan string) []string {
	var out []string
	for k := range c {
		out = append(out, k)
	}
	return out
}

// TestKeysPrefixExact checks KeysPrefix against a linear scan of a model:
// exactly the keys with the prefix, ascending, inside and outside a
// transaction.
func TestKeysPrefixExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	s := kvtree.New()
	model := map[string]bool{}
	alphabet := "ab.:"
	randKey := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 2000 {
		k := randKey()
		if rng.IntN(4) == 0 {
			s.Delete(ctx, k)
			delete(model, k)
		} else {
			s.Set(ctx, k, []byte(k))
			model[k] = true
		}
	}
	want := func(m map[string]bool, prefix string) []string {
		var out []string
		for k := range m {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	prefixes := []string{"", "a", "b", ".", "ab", "a.", "ba:", "zzz", "abab", "\xff"}
	for range 50 {
		prefixes = append(prefixes, randKey())
	}
	for _, p := range prefixes {
		if have, want := collect(s.KeysPrefix(ctx, p, nil)), want(model, p); !slices.Equal(have, want) {
			t.Fatalf("KeysPrefix(%q): have %v, want %v", p, have, want)
		}
	}
	if have, want := collect(s.Keys(ctx, nil)), want(model, ""); !slices.Equal(have, want) || s.Len() != len(want) {
		t.Fatalf("Keys: have %d keys (Len %d), want %d", len(have), s.Len(), len(want))
	}

	// In a transaction: staged sets and deletes overlay the store.
	txn, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	view := map[string]bool{}
	for k := range model {
		view[k] = true
	}
	for range 300 {
		k := randKey()
		if rng.IntN(2) == 0 {
			txn.Delete(ctx, k)
			delete(view, k)
		} else {
			txn.Set(ctx, k, nil)
			view[k] = true
		}
	}
	for _, p := range prefixes {
		if have, want := collect(txn.KeysPrefix(ctx, p, nil)), want(view, p); !slices.Equal(have, want) {
			t.Fatalf("txn KeysPrefix(%q): have %v, want %v", p, have, want)
		}
		if have, want := collect(s.KeysPrefix(ctx, p, nil)), want(model, p); !slices.Equal(have, want) {
			t.Fatalf("KeysPrefix(%q) during txn: have %v, want %v", p, have, want)
		}
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		if have, want := collect(s.KeysPrefix(ctx, p, nil)), want(view, p); !slices.Equal(have, want) {
			t.Fatalf("KeysPrefix(%q) after commit: have %v, want %v", p, have, want)
		}
	}
}

// TestWriteWhileListing: a caller may write while it reads a listing, and
// may stop reading it early, without a cancel channel.
func TestWriteWhileListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := kvtree.New()
	for i := range 100 {
		s.Set(ctx, fmt.Sprintf("k.%03d", i), nil)
	}
	n := 0
	for k := range s.KeysPrefix(ctx, "k.", nil) {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		s.Set(ctx, "k.new."+k, nil)
		if n++; n == 50 {
			break
		}
	}
	if have, want := s.Len(), 100; have != want {
		t.Fatalf("Len: have %d, want %d", have, want)
	}
}

func TestBeginHonoursContext(t *testing.T) {
	t.Parallel()
	s := kvtree.New()
	txn, err := s.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.Begin(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Begin: have %v, want a deadline error", err)
	}
	// Operations outside transactions never wait for one.
	if err := s.Set(context.Background(), "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	txn.Rollback(context.Background())
	txn.Rollback(context.Background()) // idempotent: must not free a slot twice
	if _, err := s.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrency runs many goroutines of transactions and plain
// operations over overlapping keys, in opposite orders (what deadlocks
// kvtxn), with listings they abandon half-read, and checks that every
// read-modify-write counter increment inside a transaction survived.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := kvtree.New()
	const workers, rounds, counters = 64, 60, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for r := range rounds {
				err := kv.PerformBucketTxn(ctx, s, func(ctx context.Context, b kv.Bucket) error {
					// Increment counters in an order that differs by worker.
					for i := range counters {
						c := i
						if w%2 == 1 {
							c = counters - 1 - i
						}
						key := fmt.Sprintf("counter.%d", c)
						n := 0
						if v, err := b.Get(ctx, key); err == nil {
							fmt.Sscan(string(v), &n)
						} else if !errors.Is(err, kv.ErrKeyNotFound) {
							return err
						}
						if err := b.Set(ctx, key, []byte(fmt.Sprint(n+1))); err != nil {
							return err
						}
					}
					b.Set(ctx, fmt.Sprintf("w.%02d.%04d", w, r), nil)
					for range b.KeysPrefix(ctx, "w.", nil) {
						break // abandon the listing
					}
					if rng.IntN(10) == 0 {
						return errors.New("roll back")
					}
					return nil
				})
				if err != nil && !strings.Contains(err.Error(), "roll back") {
					t.Error(err)
					return
				}
				// Plain operations alongside.
				s.Set(ctx, fmt.Sprintf("p.%02d.%04d", w, r), nil)
				s.Has(ctx, "counter.0")
				for range s.KeysPrefix(ctx, fmt.Sprintf("p.%02d.", w), nil) {
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a hang guard, not a timing
		t.Fatal("deadlock: workers did not finish")
	}
	committed := len(collect(s.KeysPrefix(ctx, "w.", nil)))
	for c := range counters {
		v, err := s.Get(ctx, fmt.Sprintf("counter.%d", c))
		if err != nil {
			t.Fatal(err)
		}
		if have := string(v); have != fmt.Sprint(committed) {
			t.Errorf("counter.%d: have %s, want %d (one per committed transaction)", c, have, committed)
		}
	}
	if have, want := len(collect(s.KeysPrefix(ctx, "p.", nil))), workers*rounds; have != want {
		t.Errorf("plain keys: have %d, want %d", have, want)
	}
}
