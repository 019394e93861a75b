package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsObserve(t *testing.T) {
	t.Parallel()
	m := NewMetrics(WithoutRuntimeMetrics())
	m.Observe("enroll", 3*time.Millisecond, nil)
	m.Observe("enroll", 40*time.Millisecond, nil)
	m.Observe("enroll", 2*time.Second, errors.New("http-500"))
	m.Observe("checkin", time.Millisecond, fmt.Errorf("checkin: %w", context.DeadlineExceeded))
	m.Observe("checkin", time.Millisecond, context.Canceled)
	m.SetEnrolled(42)
	m.SetInFlight(7)

	for _, tc := range []struct {
		op, outcome string
		want        float64
	}{
		{"enroll", OutcomeOK, 2}, {"enroll", OutcomeError, 1},
		{"checkin", OutcomeTimeout, 1}, {"checkin", OutcomeCanceled, 1},
	} {
		if have := testutil.ToFloat64(m.ops.WithLabelValues(tc.op, tc.outcome)); have != tc.want {
			t.Errorf("mdmsim_ops_total{op=%q,outcome=%q} = %v, want %v", tc.op, tc.outcome, have, tc.want)
		}
	}
	if have := testutil.ToFloat64(m.enrolled); have != 42 {
		t.Errorf("mdmsim_devices_enrolled = %v, want 42", have)
	}
	if have := testutil.ToFloat64(m.inflight); have != 7 {
		t.Errorf("mdmsim_inflight_ops = %v, want 7", have)
	}

	want := `
# HELP mdmsim_op_duration_seconds Latency of operations as the simulated device saw it, whatever their outcome.
# TYPE mdmsim_op_duration_seconds histogram
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.0005"} 0
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.001"} 0
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.0025"} 0
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.005"} 1
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.01"} 1
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.025"} 1
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.05"} 2
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.1"} 2
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.25"} 2
mdmsim_op_duration_seconds_bucket{op="enroll",le="0.5"} 2
mdmsim_op_duration_seconds_bucket{op="enroll",le="1"} 2
mdmsim_op_duration_seconds_bucket{op="enroll",le="2.5"} 3
mdmsim_op_duration_seconds_bucket{op="enroll",le="5"} 3
mdmsim_op_duration_seconds_bucket{op="enroll",le="10"} 3
mdmsim_op_duration_seconds_bucket{op="enroll",le="30"} 3
mdmsim_op_duration_seconds_bucket{op="enroll",le="+Inf"} 3
mdmsim_op_duration_seconds_sum{op="enroll"} 2.043
mdmsim_op_duration_seconds_count{op="enroll"} 3
`
	// Compare only enroll's series: checkin's are the same shape.
	reg := NewMetrics(WithoutRuntimeMetrics())
	reg.Observe("enroll", 3*time.Millisecond, nil)
	reg.Observe("enroll", 40*time.Millisecond, nil)
	reg.Observe("enroll", 2*time.Second, errors.New("x"))
	if err := testutil.GatherAndCompare(reg.Registry(), strings.NewReader(want), "mdmsim_op_duration_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("%d duration series, want 2 (one per op)", n)
	}
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestMetricsConstLabels(t *testing.T) {
	t.Parallel()
	m := NewMetrics(WithoutRuntimeMetrics(), WithConstLabels(map[string]string{"workload": "checkin"}))
	m.SetEnrolled(3)
	want := `
# HELP mdmsim_devices_enrolled Simulated devices currently enrolled.
# TYPE mdmsim_devices_enrolled gauge
mdmsim_devices_enrolled{workload="checkin"} 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "mdmsim_devices_enrolled"); err != nil {
		t.Error(err)
	}
}

func TestMetricsHandler(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.Observe("push", 5*time.Millisecond, nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	body := get(t, srv.URL)
	for _, want := range []string{`mdmsim_ops_total{op="push",outcome="ok"} 1`, "mdmsim_op_duration_seconds_bucket", "mdmsim_inflight_ops 0", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestServeMetrics(t *testing.T) {
	t.Parallel()
	m := NewMetrics(WithoutRuntimeMetrics())
	m.SetInFlight(5)
	if _, err := m.ServeMetrics("256.0.0.1:bad"); err == nil {
		t.Errorf("ServeMetrics on a bad address: no error")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback listener: %v", err)
	}
	stop := m.Serve(l)
	body := get(t, "http://"+l.Addr().String()+"/metrics")
	if !strings.Contains(body, "mdmsim_inflight_ops 5") {
		t.Errorf("served metrics lack mdmsim_inflight_ops 5:\n%s", body)
	}
	stop()
	stop() // twice is fine
	if _, err := http.Get("http://" + l.Addr().String() + "/metrics"); err == nil {
		t.Errorf("still serving after stop")
	}

	stop2, err := m.ServeMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatalf("ServeMetrics: %v", err)
	}
	stop2()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		nil: OutcomeOK, errors.New("boom"): OutcomeError,
		fmt.Errorf("x: %w", context.DeadlineExceeded): OutcomeTimeout,
		context.Canceled: OutcomeCanceled,
		timeoutErr{}:     OutcomeTimeout,
	} {
		if have := Outcome(err); have != want {
			t.Errorf("Outcome(%v) = %q, want %q", err, have, want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }
