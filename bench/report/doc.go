// Package report turns a benchmark run (a bench.Result) into what people
// and dashboards read: a self-contained HTML page with inline SVG charts
// (WriteHTML), a comparison of two runs that flags regressions (Compare),
// Prometheus metrics for a live run (Metrics), and a progress line for
// terminals (Progress).
//
// Nothing here measures: the runner in package bench records, this package
// presents. The HTML report needs no network (no CDN, fonts or scripts), so
// it can be attached to a CI run or mailed and still open years later.
package report
