package mockapns

import (
	"math/bits"
	"time"
)

// DeliveryState is what became of a push after the server answered it.
type DeliveryState string

// The delivery states. A refused push has the empty state.
const (
	// DeliveryPending: accepted, waiting for its latency or for the device
	// to come online.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the device's deliver func was called.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryDropped: a drop fault lost it.
	DeliveryDropped DeliveryState = "dropped"
	// DeliveryMagicMismatch: the payload's "mdm" value was not the device's
	// PushMagic. APNs accepts such a push (it does not know the magic) and
	// the device ignores it, so it is not delivered.
	DeliveryMagicMismatch DeliveryState = "magic_mismatch"
	// DeliveryExpired: stored for an offline device past its apns-expiration.
	DeliveryExpired DeliveryState = "expired"
	// DeliverySuperseded: stored for an offline device and replaced by a
	// newer push (APNs keeps one per device).
	DeliverySuperseded DeliveryState = "superseded"
	// DeliveryNotStored: the device was offline and apns-expiration was 0,
	// which means "try once, do not store".
	DeliveryNotStored DeliveryState = "not_stored"
	// DeliveryNoDevice: accepted for a token with no device (see
	// WithAcceptUnknownTokens), or the device unregistered before delivery.
	DeliveryNoDevice DeliveryState = "no_device"
)

// Push is one request to the provider API as the server saw and answered it.
type Push struct {
	Time       time.Time `json:"time"`
	Method     string    `json:"method,omitempty"`
	Path       string    `json:"path"`
	Token      string    `json:"token,omitempty"` // lowercase hex
	Topic      string    `json:"topic,omitempty"`
	Auth       string    `json:"auth,omitempty"` // AuthCertificate or AuthToken
	APNsID     string    `json:"apns_id"`
	PushType   string    `json:"push_type,omitempty"`
	Priority   string    `json:"priority,omitempty"`
	Expiration string    `json:"expiration,omitempty"` // apns-expiration as sent
	CollapseID string    `json:"collapse_id,omitempty"`
	Payload    []byte    `json:"payload,omitempty"`

	Status int    `json:"status"`
	Reason string `json:"reason,omitempty"`

	Delivery    DeliveryState `json:"delivery,omitempty"`
	Delivered   bool          `json:"delivered"`
	DeliveredAt time.Time     `json:"delivered_at,omitzero"`
}

// Stats are the server's counters since start or the last Reset.
type Stats struct {
	Requests int64 `json:"requests"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	// Reasons counts refused requests by reason.
	Reasons map[string]int64 `json:"reasons"`
	// Delivery counts accepted pushes by DeliveryState.
	Delivery map[DeliveryState]int64 `json:"delivery"`
	// Latency is push-to-delivery latency on the server's clock.
	Latency LatencyStats `json:"latency"`
}

// Delivered is shorthand for s.Delivery[DeliveryDelivered].
func (s Stats) Delivered() int64 { return s.Delivery[DeliveryDelivered] }

// LatencyStats summarises a latency histogram. Percentiles are bucket upper
// bounds with about 3% relative error.
type LatencyStats struct {
	Count int64    `json:"count"`
	Min   Duration `json:"min"`
	Mean  Duration `json:"mean"`
	P50   Duration `json:"p50"`
	P90   Duration `json:"p90"`
	P99   Duration `json:"p99"`
	P999  Duration `json:"p999"`
	Max   Duration `json:"max"`
}

// record is a Push plus the bookkeeping the server needs to finish it.
type record struct {
	Push
	accepted  time.Time
	expires   time.Time // zero: stored without limit
	noStorage bool      // apns-expiration: 0
	gen       uint64    // recorder generation it was counted in
}

// recorder keeps the newest pushes in a ring and the counters. Guarded by
// Server.mu.
type recorder struct {
	gen      uint64
	max      int
	ring     []*record
	next     int
	full     bool
	requests int64
	accepted int64
	rejected int64
	reasons  map[string]int64
	delivery map[DeliveryState]int64
	hist     histogram
}

func (r *recorder) init(max int) {
	r.gen++
	r.max = max
	r.ring = nil
	r.next, r.full = 0, false
	r.requests, r.accepted, r.rejected = 0, 0, 0
	r.reasons = map[string]int64{}
	r.delivery = map[DeliveryState]int64{}
	r.hist = histogram{}
}

func (r *recorder) add(rec *record) {
	rec.gen = r.gen
	r.requests++
	if rec.Status == 200 {
		r.accepted++
	} else {
		r.rejected++
		r.reasons[rec.Reason]++
	}
	if rec.Delivery != "" {
		r.delivery[rec.Delivery]++
	}
	switch {
	case r.max == 0:
	case r.max < 0:
		r.ring = append(r.ring, rec)
	case len(r.ring) < r.max:
		r.ring = append(r.ring, rec)
	default:
		r.ring[r.next] = rec
		r.next = (r.next + 1) % r.max
		r.full = true
	}
}

// transition moves rec to a new delivery state, keeping counters right.
func (r *recorder) transition(rec *record, to DeliveryState, at time.Time) {
	if rec.Delivery != "" && rec.gen == r.gen {
		r.delivery[rec.Delivery]--
	}
	rec.gen = r.gen
	rec.Delivery = to
	r.delivery[to]++
	if to == DeliveryDelivered {
		rec.Delivered = true
		rec.DeliveredAt = at
		r.hist.observe(at.Sub(rec.accepted))
	}
}

func (r *recorder) pushes() []Push {
	out := make([]Push, 0, len(r.ring))
	if r.full {
		for _, rec := range r.ring[r.next:] {
			out = append(out, rec.Push)
		}
		for _, rec := range r.ring[:r.next] {
			out = append(out, rec.Push)
		}
		return out
	}
	for _, rec := range r.ring {
		out = append(out, rec.Push)
	}
	return out
}

func (r *recorder) stats() Stats {
	st := Stats{
		Requests: r.requests, Accepted: r.accepted, Rejected: r.rejected,
		Reasons:  make(map[string]int64, len(r.reasons)),
		Delivery: make(map[DeliveryState]int64, len(r.delivery)),
		Latency:  r.hist.summary(),
	}
	for k, v := range r.reasons {
		st.Reasons[k] = v
	}
	for k, v := range r.delivery {
		if v != 0 {
			st.Delivery[k] = v
		}
	}
	return st
}

// Pushes returns the recorded provider-API requests, oldest first (at most
// the newest WithMaxRecords of them). Payloads are shared: do not modify them.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.pushes()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.stats()
}

// Reset forgets recorded pushes, counters and the latency histogram. Devices,
// topics, keys, faults and pushes still in flight are kept (a push in flight
// that is delivered after Reset is counted as delivered, not as accepted).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.init(s.rec.max)
}

// histogram is log-linear: exact below 64ns, then 32 buckets per power of
// two, so any value is within 1/32 of its bucket's bounds.
type histogram struct {
	counts   [64 + 58*32]int64
	n        int64
	sum      float64
	min, max time.Duration
}

func bucketOf(v int64) int {
	if v < 64 {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 6
	m := v >> e // in [32, 64)
	return 64 + (e-1)*32 + int(m-32)
}

// bucketUpper is the largest value that falls in bucket i.
func bucketUpper(i int) int64 {
	if i < 64 {
		return int64(i)
	}
	e := (i-64)/32 + 1
	m := int64((i-64)%32 + 32)
	return (m+1)<<e - 1
}

func (h *histogram) observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
	h.counts[bucketOf(int64(d))]++
}

func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(p*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var cum int64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			v := time.Duration(bucketUpper(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

func (h *histogram) summary() LatencyStats {
	if h.n == 0 {
		return LatencyStats{}
	}
	return LatencyStats{
		Count: h.n,
		Min:   Duration(h.min),
		Mean:  Duration(time.Duration(h.sum / float64(h.n))),
		P50:   Duration(h.percentile(0.50)),
		P90:   Duration(h.percentile(0.90)),
		P99:   Duration(h.percentile(0.99)),
		P999:  Duration(h.percentile(0.999)),
		Max:   Duration(h.max),
	}
}
