package report

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of an operation, the values of mdmsim_ops_total's outcome label.
// The set is closed so the label's cardinality stays bounded; the kind of
// an error (http-401, ...) belongs in the JSON report, not in a label.
const (
	OutcomeOK       = "ok"
	OutcomeError    = "error"
	OutcomeTimeout  = "timeout"
	OutcomeCanceled = "canceled"
)

// DefaultBuckets are mdmsim_op_duration_seconds' classic buckets: from
// half a millisecond (a check-in against the null target) to half a minute
// (an enrollment with SCEP against a slow server), about 2.5x apart.
var DefaultBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics is a live run's Prometheus registry. Its methods are safe for
// concurrent use and cheap enough to call once per operation.
type Metrics struct {
	reg      *prometheus.Registry
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	enrolled prometheus.Gauge
	inflight prometheus.Gauge
}

// MetricsOption configures NewMetrics.
type MetricsOption func(*metricsConfig)

type metricsConfig struct {
	buckets   []float64
	runtime   bool
	constLbls prometheus.Labels
}

// WithBuckets replaces DefaultBuckets.
func WithBuckets(b []float64) MetricsOption { return func(c *metricsConfig) { c.buckets = b } }

// WithoutRuntimeMetrics leaves out the Go and process collectors
// (go_*, process_*), e.g. when the embedding program exports its own.
func WithoutRuntimeMetrics() MetricsOption { return func(c *metricsConfig) { c.runtime = false } }

// WithConstLabels adds labels to every mdmsim_* series, e.g. workload or
// target, so runs side by side on one dashboard stay apart.
func WithConstLabels(l map[string]string) MetricsOption {
	return func(c *metricsConfig) { c.constLbls = l }
}

// NewMetrics returns a registry holding mdmsim_ops_total{op,outcome},
// mdmsim_op_duration_seconds{op}, mdmsim_devices_enrolled and
// mdmsim_inflight_ops, plus the Go runtime and process collectors.
func NewMetrics(opts ...MetricsOption) *Metrics {
	cfg := metricsConfig{buckets: DefaultBuckets, runtime: true}
	for _, o := range opts {
		o(&cfg)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "mdmsim_ops_total",
			Help:        "Operations completed by simulated devices, by operation and outcome (ok, error, timeout, canceled).",
			ConstLabels: cfg.constLbls,
		}, []string{"op", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "mdmsim_op_duration_seconds",
			Help:        "Latency of operations as the simulated device saw it, whatever their outcome.",
			Buckets:     cfg.buckets,
			ConstLabels: cfg.constLbls,
			// Native histograms too, for servers that scrape them: finer
			// tails at no cost to classic scrapers.
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"op"}),
		enrolled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "mdmsim_devices_enrolled",
			Help:        "Simulated devices currently enrolled.",
			ConstLabels: cfg.constLbls,
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "mdmsim_inflight_ops",
			Help:        "Operations started and not yet completed.",
			ConstLabels: cfg.constLbls,
		}),
	}
	m.reg.MustRegister(m.ops, m.duration, m.enrolled, m.inflight)
	if cfg.runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry is the underlying registry, to add collectors or gather.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe records one completed operation: its latency and its outcome.
func (m *Metrics) Observe(op string, d time.Duration, err error) {
	m.ops.WithLabelValues(op, Outcome(err)).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

// SetEnrolled sets mdmsim_devices_enrolled.
func (m *Metrics) SetEnrolled(n int) { m.enrolled.Set(float64(n)) }

// SetInFlight sets mdmsim_inflight_ops.
func (m *Metrics) SetInFlight(n int) { m.inflight.Set(float64(n)) }

// Outcome names err for the outcome label.
func Outcome(err error) string {
	var timeout interface{ Timeout() bool }
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	return OutcomeError
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// ServeMetrics listens on addr (as --metrics-listen gives it, e.g.
// ":9090" or "127.0.0.1:0") and serves /metrics until stop is called. The
// error is the listener's: a busy port fails here, not later.
func (m *Metrics) ServeMetrics(addr string) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	return m.Serve(l), nil
}

// Serve serves /metrics on l until stop is called; stop closes l, waits up
// to five seconds for scrapes in progress, and is safe to call twice.
func (m *Metrics) Serve(l net.Listener) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l) // returns ErrServerClosed after Shutdown
	}()
	var once sync.Once
	return func() { once.Do(func() { shutdown(srv, done) }) }
}

func shutdown(srv *http.Server, done <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		_ = srv.Close()
	}
	<-done
}
