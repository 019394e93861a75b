package mockgdmf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FaultKind names what a Fault does to an answer.
type FaultKind string

// The faults the mock can inject.
const (
	// FaultStatus answers with an HTTP error status (and optionally a
	// Retry-After header) instead of the catalog.
	FaultStatus FaultKind = "status"
	// FaultLatency delays the answer.
	FaultLatency FaultKind = "latency"
	// FaultStale serves the catalog as it was at an earlier time.
	FaultStale FaultKind = "stale"
	// FaultMalformed serves a truncated, unparsable JSON body with status 200.
	FaultMalformed FaultKind = "malformed"
)

// ErrInvalidFault is returned (wrapped) for a fault that cannot be applied.
var ErrInvalidFault = errors.New("mockgdmf: invalid fault")

// MaxLatency bounds a latency fault.
const MaxLatency = 10 * time.Minute

// Fault is one misbehaviour of the mock, applied to GET /v2/pmv answers.
// Faults of different kinds combine (a stale answer can also be slow); the
// server holds at most one fault per kind. Its JSON form is what the control
// API (POST /_mock/faults) accepts.
type Fault struct {
	Kind FaultKind `json:"kind"`
	// Status is the HTTP status of a FaultStatus (400–599).
	Status int `json:"status,omitempty"`
	// RetryAfter, if set, is sent as Retry-After (whole seconds) with a
	// FaultStatus.
	RetryAfter Duration `json:"retry_after,omitempty"`
	// Latency is the delay of a FaultLatency.
	Latency Duration `json:"latency,omitempty"`
	// A FaultStale serves the answer as of AsOf, or as of StaleBy before
	// the server's now; exactly one of the two is set.
	StaleBy Duration  `json:"stale_by,omitempty"`
	AsOf    time.Time `json:"as_of,omitzero"`
	// Probability is the chance (0–1) that the fault hits a request; zero
	// means every request.
	Probability float64 `json:"probability,omitempty"`
	// Count limits the fault to the next Count requests it hits; zero means
	// until cleared.
	Count int `json:"count,omitempty"`
}

// StatusFault answers every request with status; a non-zero retryAfter is
// sent as a Retry-After header.
func StatusFault(status int, retryAfter time.Duration) Fault {
	return Fault{Kind: FaultStatus, Status: status, RetryAfter: Duration(retryAfter)}
}

// LatencyFault delays every answer by d.
func LatencyFault(d time.Duration) Fault { return Fault{Kind: FaultLatency, Latency: Duration(d)} }

// StaleFault serves the answer as it was by before the server's now.
func StaleFault(by time.Duration) Fault { return Fault{Kind: FaultStale, StaleBy: Duration(by)} }

// StaleAsOfFault serves the answer as it was at t, whatever the time.
func StaleAsOfFault(t time.Time) Fault { return Fault{Kind: FaultStale, AsOf: t} }

// MalformedFault serves a truncated JSON body.
func MalformedFault() Fault { return Fault{Kind: FaultMalformed} }

// WithProbability returns f hitting each request with chance p.
func (f Fault) WithProbability(p float64) Fault { f.Probability = p; return f }

// WithCount returns f limited to the next n requests it hits.
func (f Fault) WithCount(n int) Fault { f.Count = n; return f }

// Validate reports why f cannot be applied.
func (f Fault) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidFault, f.Kind, fmt.Sprintf(format, args...))
	}
	if !(f.Probability >= 0 && f.Probability <= 1) { // also rejects NaN
		return bad("probability %v is not between 0 and 1", f.Probability)
	}
	if f.Count < 0 {
		return bad("count %d is negative", f.Count)
	}
	switch f.Kind {
	case FaultStatus:
		if f.Status < 400 || f.Status > 599 {
			return bad("status %d is not an HTTP error status (400–599)", f.Status)
		}
		if f.RetryAfter < 0 || time.Duration(f.RetryAfter) > 365*24*time.Hour {
			return bad("retry_after %v out of range", time.Duration(f.RetryAfter))
		}
	case FaultLatency:
		if f.Latency <= 0 || time.Duration(f.Latency) > MaxLatency {
			return bad("latency %v is not in (0, %v]", time.Duration(f.Latency), MaxLatency)
		}
	case FaultStale:
		if (f.StaleBy != 0) == !f.AsOf.IsZero() {
			return bad("set exactly one of stale_by and as_of")
		}
		if f.StaleBy < 0 {
			return bad("stale_by %v is negative", time.Duration(f.StaleBy))
		}
	case FaultMalformed:
	case "":
		return fmt.Errorf("%w: kind is missing (one of %s, %s, %s, %s)", ErrInvalidFault, FaultStatus, FaultLatency, FaultStale, FaultMalformed)
	default:
		return fmt.Errorf("%w: unknown kind %q (one of %s, %s, %s, %s)", ErrInvalidFault, f.Kind, FaultStatus, FaultLatency, FaultStale, FaultMalformed)
	}
	return nil
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1.5s", "72h").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"1.5s\" or \"72h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %v", s, err)
	}
	*d = Duration(v)
	return nil
}

// DecodeFaults parses a control-API body: one fault object or an array of
// them. Unknown fields and invalid faults are errors.
func DecodeFaults(body []byte) ([]Fault, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body; send a fault object or an array of them", ErrInvalidFault)
	}
	var faults []Fault
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var err error
	if trimmed[0] == '[' {
		err = dec.Decode(&faults)
	} else {
		var f Fault
		err = dec.Decode(&f)
		faults = []Fault{f}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidFault, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON value", ErrInvalidFault)
	}
	if len(faults) == 0 {
		return nil, fmt.Errorf("%w: empty array", ErrInvalidFault)
	}
	for i, f := range faults {
		if err := f.Validate(); err != nil {
			if len(faults) > 1 {
				return nil, fmt.Errorf("fault %d: %w", i, err)
			}
			return nil, err
		}
	}
	return faults, nil
}
