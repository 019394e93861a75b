package mockgdmf

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// TestWithClock: the server reads the project clock, and a latency fault
// waits on it: a request does not finish until the clock is moved past the
// latency, however long that takes on the wall clock.
func TestWithClock(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(snapshotDay)
	s := newServer(t, WithClock(clk))
	if err := s.SetFault(LatencyFault(10 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- serve(s, http.MethodGet, PMVPath, "", nil).Code }()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatalf("the latency fault never waited on the clock: %v", err)
	}
	clk.Advance(9 * time.Minute)
	select {
	case code := <-done:
		t.Fatalf("answered %d before the latency had passed on the clock", code)
	default:
	}
	clk.Advance(time.Minute)
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Errorf("status %d, want 200", code)
		}
	case <-ctx.Done():
		t.Fatal("no answer after the latency passed")
	}
	reqs := s.Requests()
	if len(reqs) != 1 || !reqs[0].Time.Equal(snapshotDay) {
		t.Errorf("recorded %+v, want one request at %v (the clock's time when it came)", reqs, snapshotDay)
	}
}
