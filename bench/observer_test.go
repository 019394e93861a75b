package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// countingObserver counts what it is shown, by operation and outcome.
type countingObserver struct {
	mu   sync.Mutex
	ok   map[string]int
	errs map[string]int
}

func (c *countingObserver) Observe(op string, _ time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs[op]++
		return
	}
	c.ok[op]++
}

// TestObserverSeesEveryOp: a live observer (the Prometheus metrics of
// --metrics-listen) is shown every operation the run records, with its
// outcome, and counts what the result counts.
func TestObserverSeesEveryOp(t *testing.T) {
	t.Parallel()
	obs := &countingObserver{ok: map[string]int{}, errs: map[string]int{}}
	res, err := Run(context.Background(), Config{Model: Closed, Workers: 4, Observer: obs}, Ops{Name: "fake", Total: 200,
		Op: func(_ context.Context, i uint64, _ *Recorder) error {
			if i%50 == 0 {
				return errors.New("boom")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	op := res.Ops["fake"]
	if obs.ok["fake"] != int(op.Count) || obs.errs["fake"] != int(op.Errors) || op.Count != 196 || op.Errors != 4 {
		t.Errorf("the observer saw %d ok and %d errors; the result counts %d and %d (want 196 and 4)",
			obs.ok["fake"], obs.errs["fake"], op.Count, op.Errors)
	}
}
