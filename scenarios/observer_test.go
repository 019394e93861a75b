package scenarios_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// answer is udid's answer to a command, as a device reports it.
func answer(udid, uuid string, st protocol.Status) simulator.Event {
	r := &protocol.Result{UDID: udid, CommandUUID: uuid, Status: st}
	if st == protocol.StatusError {
		r.ErrorChain = []protocol.ErrorChainItem{{ErrorCode: 12021, ErrorDomain: "MCMDMErrorDomain", LocalizedDescription: "nope"}}
	}
	return simulator.Event{Kind: simulator.EventCommand, UDID: udid, CommandUUID: uuid, RequestType: "DeviceInformation",
		Status: st, Result: r}
}

func report(udid, data string) simulator.Event {
	return simulator.Event{Kind: simulator.EventStatusReport, UDID: udid, Data: []byte(data)}
}

func TestObserverKeepsExpectedAnswers(t *testing.T) {
	t.Parallel()
	o := scenarios.NewObserver()
	o.Expect("kept")
	o.Expect("kept") // twice changes nothing
	o.OnEvent(answer("D1", "kept", protocol.StatusAcknowledged))
	o.OnEvent(answer("D1", "other", protocol.StatusAcknowledged))
	o.OnEvent(answer("D2", "kept", protocol.StatusError))
	// Not answers: a failed send, and an event without a result.
	failed := answer("D3", "kept", protocol.StatusAcknowledged)
	failed.Err = errors.New("connection reset")
	o.OnEvent(failed)
	o.OnEvent(simulator.Event{Kind: simulator.EventCommand, UDID: "D4", CommandUUID: "kept", Status: protocol.StatusAcknowledged})
	o.OnEvent(simulator.Event{Kind: simulator.EventOSUpdated, UDID: "D1", OSVersion: "18.0"})

	have := o.Answers("kept")
	if len(have) != 2 {
		t.Fatalf("Answers(kept): have %d, want 2: %+v", len(have), have)
	}
	for i, want := range []struct {
		udid   string
		status protocol.Status
		chain  int
	}{{"D1", protocol.StatusAcknowledged, 0}, {"D2", protocol.StatusError, 1}} {
		a := have[i]
		if a.UDID != want.udid || a.Status != want.status || a.CommandUUID != "kept" || a.RequestType != "DeviceInformation" || len(a.ErrorChain) != want.chain {
			t.Errorf("answer %d: have %+v, want %s %s with %d error(s)", i, a, want.udid, want.status, want.chain)
		}
		if !strings.Contains(string(a.Raw), "<string>"+want.udid+"</string>") || !strings.Contains(string(a.Raw), string(want.status)) {
			t.Errorf("answer %d: Raw does not hold the answer:\n%s", i, a.Raw)
		}
	}
	if have := o.Answers("other"); have != nil {
		t.Errorf("Answers(other), never expected: have %+v, want none", have)
	}
	if answers, reports := o.Counts(); answers != 3 || reports != 0 {
		t.Errorf("Counts: have %d answers, %d reports; want 3, 0", answers, reports)
	}

	// Answers returns a copy.
	have[0].UDID = "changed"
	if a := o.Answers("kept"); a[0].UDID != "D1" {
		t.Errorf("Answers shares its slice with the observer: have %q after a change of the copy", a[0].UDID)
	}

	o.Forget("kept")
	if have := o.Answers("kept"); have != nil {
		t.Errorf("Answers after Forget: have %+v, want none", have)
	}
	o.OnEvent(answer("D5", "kept", protocol.StatusAcknowledged))
	if have := o.Answers("kept"); have != nil {
		t.Errorf("Answers of a forgotten command: have %+v, want none", have)
	}
	o.Forget("never-expected") // harmless
}

// await runs Await in a goroutine and returns where its result arrives.
type awaitResult struct {
	woken bool
	err   error
}

func awaitAsync(ctx context.Context, o *scenarios.Observer, uuid string, n int, clk clock.Clock, timeout time.Duration) <-chan awaitResult {
	ch := make(chan awaitResult, 1)
	go func() {
		woken, err := o.Await(ctx, uuid, n, nil, clk, timeout)
		ch <- awaitResult{woken, err}
	}()
	return ch
}

func receive(ctx context.Context, t *testing.T, ch <-chan awaitResult) awaitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatalf("Await did not return: %v", ctx.Err())
		return awaitResult{}
	}
}

func TestObserverAwait(t *testing.T) {
	t.Parallel()
	// A bound for a hang only.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clk := clock.NewManual(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC))
	o := scenarios.NewObserver()
	o.Expect("cmd")

	// One answer of two: the wait runs out on the clock.
	ch := awaitAsync(ctx, o, "cmd", 2, clk, time.Hour)
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	o.OnEvent(answer("D1", "cmd", protocol.StatusAcknowledged))
	clk.Advance(59 * time.Minute)
	select {
	case r := <-ch:
		t.Fatalf("Await after one answer and 59 of 60 minutes: have %+v, want it still waiting", r)
	default:
	}
	clk.Advance(time.Minute)
	if r := receive(ctx, t, ch); r.woken || r.err != nil {
		t.Errorf("Await after one answer of two and the timeout: have (%v, %v), want (false, nil)", r.woken, r.err)
	}

	// The second answer wakes the next wait, and its timer goes.
	ch = awaitAsync(ctx, o, "cmd", 2, clk, time.Hour)
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	o.OnEvent(answer("D2", "cmd", protocol.StatusAcknowledged))
	if r := receive(ctx, t, ch); !r.woken || r.err != nil {
		t.Errorf("Await on the second answer: have (%v, %v), want (true, nil)", r.woken, r.err)
	}
	if n := clk.Pending(); n != 0 {
		t.Errorf("timers pending after a woken Await: have %d, want 0", n)
	}

	// Already there: no wait at all, whatever the context.
	done, stop := context.WithCancel(ctx)
	stop()
	for _, n := range []int{1, 2} {
		if woken, err := o.Await(done, "cmd", n, nil, clk, time.Hour); !woken || err != nil {
			t.Errorf("Await(%d) with %d answers in: have (%v, %v), want (true, nil)", n, 2, woken, err)
		}
	}
}

func TestObserverAwaitWakesEveryWaiter(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clk := clock.NewManual(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC))
	o := scenarios.NewObserver()
	o.Expect("cmd")
	first := awaitAsync(ctx, o, "cmd", 1, clk, time.Hour)
	second := awaitAsync(ctx, o, "cmd", 2, clk, time.Hour)
	third := awaitAsync(ctx, o, "cmd", 3, clk, time.Hour)
	if err := clk.BlockUntil(ctx, 3); err != nil {
		t.Fatal(err)
	}
	o.OnEvent(answer("D1", "cmd", protocol.StatusNotNow))
	if r := receive(ctx, t, first); !r.woken || r.err != nil {
		t.Errorf("Await(1) after one answer: have %+v, want woken", r)
	}
	o.OnEvent(answer("D1", "cmd", protocol.StatusAcknowledged))
	if r := receive(ctx, t, second); !r.woken || r.err != nil {
		t.Errorf("Await(2) after two answers: have %+v, want woken", r)
	}
	clk.Advance(time.Hour)
	if r := receive(ctx, t, third); r.woken || r.err != nil {
		t.Errorf("Await(3) after two answers and the timeout: have %+v, want (false, nil)", r)
	}
	if have := len(o.Answers("cmd")); have != 2 {
		t.Errorf("answers kept for an expected command: have %d, want 2", have)
	}

	// Awaiting a command nobody Expected keeps its answers only while
	// someone waits.
	other := awaitAsync(ctx, o, "other", 1, clk, time.Hour)
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	o.OnEvent(answer("D1", "other", protocol.StatusAcknowledged))
	if r := receive(ctx, t, other); !r.woken || r.err != nil {
		t.Errorf("Await on an unexpected command: have %+v, want woken", r)
	}
	if have := o.Answers("other"); have != nil {
		t.Errorf("answers kept after the wait for an unexpected command: %v", have)
	}
}

func TestObserverAwaitContext(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	tests := []struct {
		name    string
		ctx     context.Context
		timeout time.Duration
		want    error
	}{
		{"cancelled", cancelled, time.Hour, context.Canceled},
		{"cancelled, no timeout", cancelled, 0, context.Canceled},
		{"deadline exceeded", expired, time.Hour, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := scenarios.NewObserver()
			o.Expect("cmd")
			woken, err := o.Await(tt.ctx, "cmd", 1, nil, clk, tt.timeout)
			if woken || !errors.Is(err, tt.want) {
				t.Errorf("Await: have (%v, %v), want (false, %v)", woken, err, tt.want)
			}
			// The waiter is gone: a later answer wakes nobody and is kept.
			o.OnEvent(answer("D1", "cmd", protocol.StatusAcknowledged))
			if have := len(o.Answers("cmd")); have != 1 {
				t.Errorf("answers after a cancelled wait: have %d, want 1", have)
			}
		})
	}
}

// TestObserverAwaitCancelWhileWaiting: a context cancelled during the wait
// ends it with the context's error.
func TestObserverAwaitCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	bound, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	clk := clock.NewManual(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC))
	o := scenarios.NewObserver()
	ctx, cancel := context.WithCancel(bound)
	ch := awaitAsync(ctx, o, "cmd", 1, clk, time.Hour)
	if err := clk.BlockUntil(bound, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if r := receive(bound, t, ch); r.woken || !errors.Is(r.err, context.Canceled) {
		t.Errorf("Await cancelled while waiting: have (%v, %v), want (false, %v)", r.woken, r.err, context.Canceled)
	}
}

// statusReport builds a DDM status report as a device sends it.
func statusReport(items map[string]any) string {
	b, err := json.Marshal(map[string]any{"StatusItems": items, "Errors": []any{}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestObserverStatusReports(t *testing.T) {
	t.Parallel()
	full := statusReport(map[string]any{
		"device": map[string]any{"operating-system": map[string]any{
			"family": "iOS", "version": "17.5", "build-version": "21F79", "marketing-name": "iOS 17.5"}},
		"softwareupdate": map[string]any{
			"install-state":   "downloading",
			"pending-version": map[string]any{"os-version": "17.6", "build-version": "21G80"},
			"failure-reason":  map[string]any{"count": 2, "reason": "download failed", "timestamp": "2025-06-02T09:00:00Z"},
			"install-reason":  map[string]any{"reason": []string{"declarative-management"}},
		},
		"management": map[string]any{"declarations": map[string]any{
			"configurations": []any{
				map[string]any{"identifier": "cfg.update", "valid": "valid", "active": true, "server-token": "1"},
				map[string]any{"identifier": "cfg.bad", "valid": "invalid", "active": false, "server-token": "1"},
			},
			"activations": []any{map[string]any{"identifier": "act.1", "valid": "valid", "active": true, "server-token": "1"}},
			"assets":      []any{},
			"management":  []any{map[string]any{"identifier": "mgmt.1", "valid": "unknown", "active": false, "server-token": "1"}},
		}},
	})
	afterFull := scenarios.DDMStatus{OSVersion: "17.5", BuildVersion: "21F79", InstallState: "downloading", PendingVersion: "17.6",
		FailureReason: "download failed", FailureCount: 2,
		Declarations: map[string]string{"cfg.update": "valid", "cfg.bad": "invalid", "act.1": "valid", "mgmt.1": "unknown"}, Reports: 1}

	tests := []struct {
		name    string
		reports []string
		want    scenarios.DDMStatus
		ok      bool
		counted int
	}{
		{"none", nil, scenarios.DDMStatus{}, false, 0},
		{"full", []string{full}, afterFull, true, 1},
		{"partial keeps earlier values", []string{full,
			statusReport(map[string]any{"softwareupdate": map[string]any{"install-state": "installing"}}),
			statusReport(map[string]any{"device": map[string]any{"operating-system": map[string]any{"version": "17.6"}}}),
		}, func() scenarios.DDMStatus {
			s := afterFull
			s.InstallState, s.OSVersion, s.Reports = "installing", "17.6", 3
			return s
		}(), true, 3},
		{"declarations are reported whole", []string{full,
			statusReport(map[string]any{"management": map[string]any{"declarations": map[string]any{
				"configurations": []any{map[string]any{"identifier": "cfg.new", "valid": "valid"}}}}}),
		}, func() scenarios.DDMStatus {
			s := afterFull
			s.Declarations, s.Reports = map[string]string{"cfg.new": "valid"}, 2
			return s
		}(), true, 2},
		{"failure reason replaced whole", []string{full,
			statusReport(map[string]any{"softwareupdate": map[string]any{"failure-reason": map[string]any{"count": 3}}}),
		}, func() scenarios.DDMStatus {
			s := afterFull
			s.FailureCount, s.FailureReason, s.Reports = 3, "", 2
			return s
		}(), true, 2},
		{"empty report counts", []string{`{}`}, scenarios.DDMStatus{Reports: 1}, true, 1},
		{"malformed ignored", []string{full, `{"StatusItems":`, `not json`, ``, `null`,
			`{"StatusItems":{"device":{"operating-system":{"version":17}}}}`,
			`{"StatusItems":{"softwareupdate":{"failure-reason":{"count":"many"}}}}`,
			`{"StatusItems":{"management":{"declarations":{"configurations":"all"}}}}`,
		}, func() scenarios.DDMStatus {
			s := afterFull
			s.Reports = 2 // "null" decodes as an empty report
			return s
		}(), true, 2},
		{"malformed first", []string{`[1,2,3]`, `"a string"`, `{"StatusItems":[]}`}, scenarios.DDMStatus{}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := scenarios.NewObserver()
			for _, r := range tt.reports {
				o.OnEvent(report("D1", r))
			}
			have, ok := o.DDM("D1")
			if ok != tt.ok || !reflect.DeepEqual(have, tt.want) {
				t.Errorf("DDM(D1): have %+v, %v; want %+v, %v", have, ok, tt.want, tt.ok)
			}
			if _, reports := o.Counts(); reports != tt.counted {
				t.Errorf("reports counted: have %d, want %d", reports, tt.counted)
			}
			if _, ok := o.DDM("D2"); ok {
				t.Error("DDM(D2), a device that never reported: have ok, want not")
			}
		})
	}
}

// TestObserverDDMCopies: what DDM returns is the caller's to change.
func TestObserverDDMCopies(t *testing.T) {
	t.Parallel()
	o := scenarios.NewObserver()
	o.OnEvent(report("D1", statusReport(map[string]any{"management": map[string]any{"declarations": map[string]any{
		"configurations": []any{map[string]any{"identifier": "a", "valid": "valid"}}}}})))
	s, _ := o.DDM("D1")
	s.Declarations["a"] = "invalid"
	s.OSVersion = "changed"
	again, _ := o.DDM("D1")
	if again.Declarations["a"] != "valid" || again.OSVersion != "" {
		t.Errorf("DDM after a change of its copy: have %+v, want the observer's values unchanged", again)
	}
}

// FuzzObserverStatusReport: no status report, however hostile, panics the
// observer, and one that is not a JSON object is never counted.
func FuzzObserverStatusReport(f *testing.F) {
	for _, seed := range []string{
		statusReport(map[string]any{"device": map[string]any{"operating-system": map[string]any{"version": "17.5", "build-version": "21F79"}}}),
		statusReport(map[string]any{"softwareupdate": map[string]any{"install-state": "installed",
			"pending-version": map[string]any{"os-version": "17.6"}, "failure-reason": map[string]any{"count": 1, "reason": "x"}}}),
		statusReport(map[string]any{"management": map[string]any{"declarations": map[string]any{
			"configurations": []any{map[string]any{"identifier": "a", "valid": "valid"}}, "activations": nil}}}),
		`{"StatusItems":{"softwareupdate":{"pending-version":null,"failure-reason":{"count":-1}}}}`,
		`{"StatusItems":{"management":{"declarations":{"configurations":[null,{}]}}}}`,
		`{"StatusItems":null}`, `null`, `{}`, `[]`, `{"StatusItems":`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := scenarios.NewObserver()
		o.OnEvent(simulator.Event{Kind: simulator.EventStatusReport, UDID: "D1", Data: data})
		s, ok := o.DDM("D1")
		_, reports := o.Counts()
		if ok != (reports == 1) || (ok && s.Reports != 1) {
			t.Fatalf("DDM ok=%v with %d reports counted, status %+v", ok, reports, s)
		}
		if ok && !json.Valid(data) {
			t.Fatalf("invalid JSON counted as a report: %q", data)
		}
	})
}
