package scenarios

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
)

// Labels of the conformance specs: an area, "slow", and the capability a
// spec needs of the target (CapLabel). They are typed strings, so one is
// never taken for a Capability by mistake.
const (
	LabelProtocol string = "protocol"
	LabelSecurity string = "security"
	LabelPush     string = "push"
	LabelLegacy   string = "legacy-update"
	LabelDDM      string = "ddm"
	LabelFleet    string = "fleet"
	LabelSlow     string = "slow"
)

// CapLabel is the label of a spec that needs capability c, e.g.
// "needs:commands": --label-filter '!needs:declarations' leaves out what a
// server without DDM cannot do.
func CapLabel(c Capability) string { return "needs:" + string(c) }

// Opener opens the target under test in a spec's world: every spec gets
// a world of its own (its clock, its mocks), and the target in it.
type Opener func(ctx context.Context, w *World) (Target, error)

// SuiteOptions say how the conformance suite runs.
type SuiteOptions struct {
	// LabelFilter selects specs (Ginkgo's label-filter syntax, e.g.
	// "legacy-update && !slow").
	LabelFilter string
	// JUnitReport and JSONReport, when set, are files the reports go to.
	JUnitReport, JSONReport string
	// InProcess says the target runs in this process (the embedded stack):
	// each spec's world then runs on the discrete-event clock and its
	// verdict does not depend on the machine's load. Otherwise the server
	// lives on real time, and so does the world (Speed > 1 scales it).
	InProcess bool
	Speed     float64
	// ProxyAddr and CADir are the world's APNs proxy and CA folder, for a
	// server outside the process (see WorldConfig).
	ProxyAddr, CADir string
	// SpecTimeout bounds one spec on the wall clock (default 5 minutes).
	SpecTimeout time.Duration
	// Verbose prints every spec; DryRun lists them without running.
	Verbose, DryRun bool
	// FailFast stops at the first failing spec.
	FailFast bool
}

// suite is the run in progress: RunSpecs runs once per process.
var suite struct {
	open Opener
	opts SuiteOptions
}

// DefaultSpecTimeout bounds a spec when SuiteOptions does not.
const DefaultSpecTimeout = 5 * time.Minute

// Run runs the conformance specs registered in this process (import
// github.com/mdmsim/mdmsim/scenarios/specs for them) against the target
// target opens, inside a go test or from a command (t only needs Fail).
// It reports whether every selected spec passed. Ginkgo runs one suite
// per process.
func Run(t ginkgo.GinkgoTestingT, target Opener, opts SuiteOptions) bool {
	if target == nil {
		panic("scenarios: Run with a nil Opener")
	}
	if opts.SpecTimeout <= 0 {
		opts.SpecTimeout = DefaultSpecTimeout
	}
	suite.open, suite.opts = target, opts
	gomega.RegisterFailHandler(ginkgo.Fail)
	sc, rc := ginkgo.GinkgoConfiguration()
	sc.LabelFilter = opts.LabelFilter
	sc.DryRun = opts.DryRun
	sc.FailFast = opts.FailFast
	sc.RandomizeAllSpecs = false
	// The same order every run: a report reads the same twice.
	sc.RandomSeed = 1
	rc.JUnitReport, rc.JSONReport = opts.JUnitReport, opts.JSONReport
	rc.Verbose = opts.Verbose
	rc.Succinct = !opts.Verbose
	rc.NoColor = true
	return ginkgo.RunSpecs(t, "mdmsim conformance", sc, rc)
}

// ErrNoSuite is what a spec helper returns outside Run.
var ErrNoSuite = errors.New("scenarios: no conformance run in progress (call scenarios.Run)")

// SpecInfo is one spec of the suite, for the golden list.
type SpecInfo struct {
	Name   string
	Labels []string
}

// ListSpecs returns the specs a report holds, in order.
func ListSpecs(r types.Report) []SpecInfo {
	var out []SpecInfo
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		out = append(out, SpecInfo{Name: s.FullText(), Labels: s.Labels()})
	}
	return out
}

// specTimeout is a spec's wall-clock bound.
func specTimeout() time.Duration { return suite.opts.SpecTimeout }

// lastReport is the report of the last run, for the callers of Run.
var (
	reportMu   sync.Mutex
	lastReport types.Report
)

var _ = ginkgo.ReportAfterSuite("mdmsim conformance report", func(r types.Report) {
	reportMu.Lock()
	lastReport = r
	reportMu.Unlock()
})

// LastReport is the report of the suite Run ran.
func LastReport() types.Report {
	reportMu.Lock()
	defer reportMu.Unlock()
	return lastReport
}

// Summary counts a report's specs.
type Summary struct {
	Passed   int      `json:"passed"`
	Failed   int      `json:"failed"`
	Skipped  int      `json:"skipped"`
	Failures []string `json:"failures,omitempty"`
	// Skips are the specs skipped, with why.
	Skips []string `json:"skips,omitempty"`
}

// Summarize counts a report's specs.
func Summarize(r types.Report) Summary {
	var s Summary
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			continue
		}
		switch {
		case sr.State.Is(types.SpecStatePassed):
			s.Passed++
		case sr.State.Is(types.SpecStateSkipped | types.SpecStatePending):
			s.Skipped++
			if msg := sr.Failure.Message; msg != "" {
				s.Skips = append(s.Skips, sr.FullText()+": "+msg)
			}
		case sr.State.Is(types.SpecStateFailureStates):
			s.Failed++
			s.Failures = append(s.Failures, sr.FullText()+": "+sr.Failure.Message)
		}
	}
	return s
}
