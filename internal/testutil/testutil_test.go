package testutil_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/mdmsim/mdmsim/internal/testutil"
)

func TestEventually(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	testutil.Eventually(t, "three calls", func() bool { return n.Add(1) == 3 })
	if have := n.Load(); have != 3 {
		t.Fatalf("cond called %d times, want 3", have)
	}
}

func TestEventuallyCtxEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testutil.EventuallyCtx(ctx, ft, "never", func() (bool, error) { return false, errors.New("not yet") })
	}()
	<-done
	if !ft.failed {
		t.Fatal("a cancelled wait did not fail the test")
	}
}

func TestSelfSigned(t *testing.T) {
	t.Parallel()
	cert, key := testutil.SelfSigned(t, "dev")
	if cert.Subject.CommonName != "dev" || !key.PublicKey.Equal(cert.PublicKey) {
		t.Fatalf("certificate %v does not match its key", cert.Subject)
	}
}

// fakeT records Fatalf and ends the goroutine as testing.T does.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}
