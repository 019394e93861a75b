package mockapns

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// FaultType says what a Fault does.
type FaultType string

// The fault types.
const (
	// FaultReject answers matching pushes with Reason (and Status, or the
	// status APNs uses for Reason) instead of accepting them.
	FaultReject FaultType = "reject"
	// FaultRateLimit answers 429 TooManyRequests to matching pushes past
	// Limit in one second of the server's clock, per token if PerToken.
	FaultRateLimit FaultType = "rate_limit"
	// FaultLatency delays the delivery of accepted pushes by a sample of
	// Latency. Several latency faults add up.
	FaultLatency FaultType = "latency"
	// FaultDrop accepts matching pushes (200) and never delivers them, as
	// when a device is out of reach for longer than APNs stores a push.
	FaultDrop FaultType = "drop"
)

// Fault is one injected failure, a small named value in the manner of
// toxiproxy's toxics. Faults are evaluated in the order they were added;
// adding a fault with an existing name replaces it in place.
//
// Reject and rate-limit faults apply to requests that passed authentication
// and header, token and payload validation (so malformed requests still get
// their real errors) and before the device registry is consulted.
type Fault struct {
	Name string    `json:"name"`
	Type FaultType `json:"type"`
	// Token limits the fault to one device token (hex, any case); empty
	// means every token.
	Token string `json:"token,omitempty"`
	// Probability is the chance in [0,1] that the fault applies to a
	// matching push; 0 means always (like toxiproxy's default toxicity 1).
	Probability float64 `json:"probability,omitempty"`

	// Reason and Status are for FaultReject. Status defaults to the status
	// APNs uses for Reason; a Reason APNs does not define needs a Status.
	Reason string `json:"reason,omitempty"`
	Status int    `json:"status,omitempty"`

	// Limit and PerToken are for FaultRateLimit.
	Limit    int  `json:"limit,omitempty"`
	PerToken bool `json:"per_token,omitempty"`

	// Latency is for FaultLatency.
	Latency Distribution `json:"latency,omitzero"`
}

// Reject returns a fault that answers every push with reason.
func Reject(name, reason string) Fault { return Fault{Name: name, Type: FaultReject, Reason: reason} }

// Unavailable returns the fault of APNs being down: every push gets 503
// ServiceUnavailable.
func Unavailable() Fault { return Reject("unavailable", ReasonServiceUnavailable) }

// RateLimit returns a fault that answers 429 TooManyRequests past perSecond
// pushes in a second, counted per token if perToken, else server-wide.
func RateLimit(name string, perSecond int, perToken bool) Fault {
	return Fault{Name: name, Type: FaultRateLimit, Limit: perSecond, PerToken: perToken}
}

// Delay returns a fault that delays deliveries by samples of d.
func Delay(name string, d Distribution) Fault {
	return Fault{Name: name, Type: FaultLatency, Latency: d}
}

// Drop returns a fault that silently loses accepted pushes with probability p.
func Drop(name string, p float64) Fault { return Fault{Name: name, Type: FaultDrop, Probability: p} }

// ForToken returns f limited to one device token.
func (f Fault) ForToken(token []byte) Fault { f.Token = hex.EncodeToString(token); return f }

// WithProbability returns f applying with probability p.
func (f Fault) WithProbability(p float64) Fault { f.Probability = p; return f }

// Validate reports what is wrong with f, in words fit for a 400 response.
func (f Fault) Validate() error {
	if strings.TrimSpace(f.Name) == "" {
		return errors.New("fault needs a name")
	}
	if f.Token != "" {
		if _, err := hex.DecodeString(f.Token); err != nil {
			return fmt.Errorf("fault %q: token %q is not hex", f.Name, f.Token)
		}
	}
	if math.IsNaN(f.Probability) || f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("fault %q: probability %v is not in [0,1]", f.Name, f.Probability)
	}
	switch f.Type {
	case FaultReject:
		if f.Reason == "" {
			return fmt.Errorf("fault %q: reject needs a reason", f.Name)
		}
		if _, known := ReasonStatus(f.Reason); !known && f.Status == 0 {
			return fmt.Errorf("fault %q: reason %q is not an APNs reason; give a status too", f.Name, f.Reason)
		}
		if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
			return fmt.Errorf("fault %q: status %d is not an error status", f.Name, f.Status)
		}
	case FaultRateLimit:
		if f.Limit < 0 {
			return fmt.Errorf("fault %q: limit %d is negative", f.Name, f.Limit)
		}
	case FaultLatency:
		if err := f.Latency.Validate(); err != nil {
			return fmt.Errorf("fault %q: %w", f.Name, err)
		}
	case FaultDrop:
	case "":
		return fmt.Errorf("fault %q needs a type (%s, %s, %s or %s)", f.Name, FaultReject, FaultRateLimit, FaultLatency, FaultDrop)
	default:
		return fmt.Errorf("fault %q: unknown type %q (want %s, %s, %s or %s)", f.Name, f.Type, FaultReject, FaultRateLimit, FaultLatency, FaultDrop)
	}
	return nil
}

// status is the HTTP status a reject fault answers with.
func (f Fault) status() int {
	if f.Status != 0 {
		return f.Status
	}
	st, _ := ReasonStatus(f.Reason)
	return st
}

// Distributions of delivery latency.
const (
	DistFixed   = "fixed"
	DistUniform = "uniform"
	DistNormal  = "normal"
)

// Distribution is a latency distribution: fixed (Mean), uniform in
// [Min, Max], or normal (Mean, StdDev) clamped below at Min (and at 0).
type Distribution struct {
	Kind   string   `json:"kind"`
	Mean   Duration `json:"mean,omitempty"`
	StdDev Duration `json:"stddev,omitempty"`
	Min    Duration `json:"min,omitempty"`
	Max    Duration `json:"max,omitempty"`
}

// Fixed is a latency of exactly d.
func Fixed(d time.Duration) Distribution { return Distribution{Kind: DistFixed, Mean: Duration(d)} }

// Uniform is a latency uniformly distributed in [min, max].
func Uniform(min, max time.Duration) Distribution {
	return Distribution{Kind: DistUniform, Min: Duration(min), Max: Duration(max)}
}

// Normal is a normally distributed latency, never below min.
func Normal(mean, stddev, min time.Duration) Distribution {
	return Distribution{Kind: DistNormal, Mean: Duration(mean), StdDev: Duration(stddev), Min: Duration(min)}
}

// Validate reports what is wrong with d.
func (d Distribution) Validate() error {
	if d.Mean < 0 || d.StdDev < 0 || d.Min < 0 || d.Max < 0 {
		return errors.New("latency durations must not be negative")
	}
	switch d.Kind {
	case DistFixed, DistNormal:
	case DistUniform:
		if d.Max < d.Min {
			return fmt.Errorf("uniform latency: max %v is below min %v", d.Max, d.Min)
		}
	case "":
		return errors.New("latency needs a kind (fixed, uniform or normal)")
	default:
		return fmt.Errorf("unknown latency kind %q (want fixed, uniform or normal)", d.Kind)
	}
	return nil
}

// sample draws one latency from d with rng.
func (d Distribution) sample(rng *rand.Rand) time.Duration {
	switch d.Kind {
	case DistFixed:
		return time.Duration(d.Mean)
	case DistUniform:
		span := int64(d.Max - d.Min)
		if span <= 0 {
			return time.Duration(d.Min)
		}
		return time.Duration(d.Min) + time.Duration(rng.Int64N(span+1))
	case DistNormal:
		v := float64(d.Mean) + rng.NormFloat64()*float64(d.StdDev)
		v = max(v, float64(d.Min), 0)
		return time.Duration(v)
	}
	return 0
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("150ms"); a bare JSON number is taken as nanoseconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q: want e.g. \"150ms\"", s)
		}
		*d = Duration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("bad duration %s: want a string like \"150ms\" or integer nanoseconds", b)
	}
	*d = Duration(n)
	return nil
}

// faultState is a fault plus its rate-limit windows.
type faultState struct {
	f       Fault
	windows map[string]*window // by token, "" for server-wide
}

type window struct {
	second int64
	count  int
}

// AddFault installs f, replacing a fault with the same name.
func (s *Server) AddFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f.Token = strings.ToLower(f.Token)
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := &faultState{f: f, windows: map[string]*window{}}
	for i, old := range s.faults {
		if old.f.Name == f.Name {
			s.faults[i] = fs
			return nil
		}
	}
	s.faults = append(s.faults, fs)
	return nil
}

// RemoveFault removes the fault named name and reports whether it existed.
func (s *Server) RemoveFault(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, fs := range s.faults {
		if fs.f.Name == name {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return true
		}
	}
	return false
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults returns the installed faults in evaluation order.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, len(s.faults))
	for i, fs := range s.faults {
		out[i] = fs.f
	}
	return out
}

// FailToken makes every push to token fail with reason, as the fault named
// "token/<hex>"; RemoveFault with that name (or ClearFaults) undoes it.
func (s *Server) FailToken(token []byte, reason string) error {
	f := Reject("token/"+hex.EncodeToString(token), reason).ForToken(token)
	return s.AddFault(f)
}

// fires rolls f's probability. Called with s.mu held.
func (s *Server) firesLocked(f *Fault, token string) bool {
	if f.Token != "" && f.Token != token {
		return false
	}
	if f.Probability == 0 || f.Probability >= 1 {
		return true
	}
	return s.rng.Float64() < f.Probability
}

// rejectLocked evaluates reject and rate-limit faults for a push to token at
// now and returns the fault that refuses it, if any.
func (s *Server) rejectLocked(token string, now time.Time) (status int, reason string, refused bool) {
	sec := now.Unix()
	for _, fs := range s.faults {
		f := &fs.f
		switch f.Type {
		case FaultReject:
			if s.firesLocked(f, token) {
				return f.status(), f.Reason, true
			}
		case FaultRateLimit:
			if f.Token != "" && f.Token != token {
				continue
			}
			key := ""
			if f.PerToken {
				key = token
			}
			w := fs.windows[key]
			if w == nil {
				w = &window{}
				fs.windows[key] = w
			}
			if w.second != sec {
				w.second, w.count = sec, 0
			}
			w.count++
			if w.count > f.Limit && s.firesLocked(f, token) {
				return 429, ReasonTooManyRequests, true
			}
		}
	}
	return 0, "", false
}

// deliveryFaultsLocked evaluates drop and latency faults for an accepted push.
func (s *Server) deliveryFaultsLocked(token string) (drop bool, latency time.Duration) {
	for _, fs := range s.faults {
		f := &fs.f
		switch f.Type {
		case FaultDrop:
			if s.firesLocked(f, token) {
				drop = true
			}
		case FaultLatency:
			if s.firesLocked(f, token) {
				latency += f.Latency.sample(s.rng)
			}
		}
	}
	return drop, latency
}
