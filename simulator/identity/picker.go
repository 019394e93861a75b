package identity

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// Enrollment is how a device came under management. The zero value says
// nothing: the device then counts as enrolled by Automated Device Enrollment
// exactly when it is supervised, as identities drawn without a Picker are.
type Enrollment uint8

// How a device enrolled.
const (
	EnrollmentUnknown Enrollment = iota
	// EnrollmentADE: Automated Device Enrollment (DEP). Such a device is
	// supervised (iOS 13 and later, macOS 11 and later).
	EnrollmentADE
	// EnrollmentProfile: a profile the user installed and approved; not
	// supervised.
	EnrollmentProfile
	// EnrollmentConfigurator (iPhone and iPad): prepared with Apple
	// Configurator, then enrolled by profile; supervised.
	EnrollmentConfigurator
)

// ViaADE reports whether the device enrolled by Automated Device
// Enrollment (SecurityInfo's EnrolledViaDEP, reported by Macs).
func (id Identity) ViaADE() bool {
	if id.Enrollment == EnrollmentUnknown {
		return id.IsSupervised
	}
	return id.Enrollment == EnrollmentADE
}

// PickerConfig is what a Picker draws from. Weights need not add up to one;
// a zero or missing weight is never drawn.
type PickerConfig struct {
	Catalog *catalog.Catalog
	// ShippedBy: a device runs an OS release posted on or before this time
	// (the scenario's start); zero means any release the catalog holds.
	ShippedBy time.Time
	// ModelWeight gives each model's weight within its platform.
	ModelWeight func(m *catalog.Model) float64
	// OSShares gives, per platform, the share of each OS major. A model
	// that cannot run a major the shares name draws among the majors it
	// can run, in the same proportions; nil or empty shares fall back to
	// the default (newest release about half the time).
	OSShares map[catalog.Platform]map[int]float64
	// TimeZones weighs IANA time zones; empty keeps the default spread.
	TimeZones map[string]float64
	// Seed places the stratified draws of OS majors.
	Seed int64
	// ADE is the share of devices enrolled by Automated Device
	// Enrollment; Configurator the share of iPhones and iPads supervised
	// with Apple Configurator (of the rest); the others enrolled by a
	// profile and are not supervised.
	ADE, Configurator float64
}

// Picker draws models, OS releases, time zones and enrollments with the
// weights of a population. Its tables are built once and shared by every
// device it draws; drawing allocates nothing. With OS shares, the k-th
// device of a platform takes the k-th point of a low-discrepancy sequence
// to choose its major, so a fleet of ten already holds every major of
// share 0.15 or more, and the same seed draws the same fleet as long as
// devices are drawn in the same order. A Picker is safe for concurrent
// use.
type Picker struct {
	cfg     PickerConfig
	models  map[catalog.Platform]weighted[*catalog.Model]
	zones   weighted[string]
	byModel map[string]*modelReleases
	// byMajor holds, for a platform with OS shares, the majors weighted
	// by their shares and, for each, the models that run it (a release of
	// it shipped for them by ShippedBy) weighted by ModelWeight.
	byMajor map[catalog.Platform]*weighted[majorModels]
	// draws counts the major draws per platform: the k-th uses the k-th
	// point of a Weyl sequence, so even a small fleet holds every major in
	// about its share.
	draws map[catalog.Platform]*atomic.Uint64
	phase float64
}

type majorModels struct {
	major  int
	models weighted[*catalog.Model]
}

// modelReleases is one model's starting OS releases (shipped by ShippedBy),
// newest first, grouped by major, with the major's weights.
type modelReleases struct {
	majors weighted[[]catalog.Release]
}

// randSource is the faker's generator, or any other seeded one.
type randSource interface{ Float64() float64 }

type weighted[T any] struct {
	items []T
	cum   []float64 // cumulative weights; cum[len-1] is the total
}

func (w *weighted[T]) add(item T, weight float64) {
	if !(weight > 0) {
		return
	}
	total := 0.0
	if n := len(w.cum); n > 0 {
		total = w.cum[n-1]
	}
	w.items = append(w.items, item)
	w.cum = append(w.cum, total+weight)
}

func (w *weighted[T]) pick(r randSource) (T, bool) {
	var zero T
	if len(w.items) == 0 {
		return zero, false
	}
	x := r.Float64() * w.cum[len(w.cum)-1]
	i := sort.SearchFloat64s(w.cum, x)
	if i < len(w.cum) && w.cum[i] == x {
		i++ // x sits on a boundary: it belongs to the next item
	}
	return w.items[min(i, len(w.items)-1)], true
}

// NewPicker builds a Picker's tables. It reports a platform left without a
// model of positive weight, a model without a release shipped by
// ShippedBy, and an unknown time zone.
func NewPicker(cfg PickerConfig) (*Picker, error) {
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Default()
	}
	if cfg.ModelWeight == nil {
		cfg.ModelWeight = func(*catalog.Model) float64 { return 1 }
	}
	p := &Picker{cfg: cfg, models: map[catalog.Platform]weighted[*catalog.Model]{}, byModel: map[string]*modelReleases{},
		byMajor: map[catalog.Platform]*weighted[majorModels]{}, draws: map[catalog.Platform]*atomic.Uint64{},
		phase: float64(uint64(cfg.Seed)>>11) / (1 << 53)}
	for _, m := range modelPool()[""] {
		w := p.models[m.Platform]
		wt := cfg.ModelWeight(m)
		w.add(m, wt)
		p.models[m.Platform] = w
		if !(wt > 0) {
			continue
		}
		mr, err := p.releasesOf(m)
		if err != nil {
			return nil, err
		}
		p.byModel[m.Identifier] = mr
	}
	for _, pl := range []catalog.Platform{catalog.MacOS, catalog.IOS} {
		if w := p.models[pl]; len(w.items) == 0 {
			return nil, fmt.Errorf("identity: no %s model has a positive weight", pl)
		}
		if err := p.buildMajors(pl); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(cfg.TimeZones))
	for n := range cfg.TimeZones {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := time.LoadLocation(n); err != nil {
			return nil, fmt.Errorf("identity: time zone %q: %w", n, err)
		}
		p.zones.add(n, cfg.TimeZones[n])
	}
	return p, nil
}

// releasesOf groups m's shipped releases by major, weighted by the shares.
func (p *Picker) releasesOf(m *catalog.Model) (*modelReleases, error) {
	var byMajor [][]catalog.Release
	for _, r := range p.cfg.Catalog.ShippedBuilds(*m) {
		if !p.cfg.ShippedBy.IsZero() && r.PostingDate.After(p.cfg.ShippedBy) {
			continue
		}
		if n := len(byMajor); n > 0 && byMajor[n-1][0].Version().Major == r.Version().Major {
			byMajor[n-1] = append(byMajor[n-1], r)
			continue
		}
		byMajor = append(byMajor, []catalog.Release{r})
	}
	if len(byMajor) == 0 {
		return nil, fmt.Errorf("identity: no release for %s (%s) shipped by %s", m.Identifier, m.SoftwareUpdateDeviceID, p.cfg.ShippedBy.Format(time.DateOnly))
	}
	mr := &modelReleases{}
	shares := p.cfg.OSShares[m.Platform]
	for _, rels := range byMajor {
		mr.majors.add(rels, shares[rels[0].Version().Major])
	}
	if len(mr.majors.items) == 0 {
		// None of the shares' majors runs on m: newest major most often,
		// each older one half as often.
		w := 1.0
		for _, rels := range byMajor {
			mr.majors.add(rels, w)
			w /= 2
		}
	}
	return mr, nil
}

// buildMajors builds the major-first tables of a platform with OS shares.
// The majors are listed newest first, so the older ones (each a small
// share) sit side by side and a Weyl draw lands in their block however
// small the fleet.
func (p *Picker) buildMajors(pl catalog.Platform) error {
	shares := p.cfg.OSShares[pl]
	if len(shares) == 0 {
		return nil
	}
	majors := make([]int, 0, len(shares))
	for v, s := range shares {
		if s > 0 {
			majors = append(majors, v)
		}
	}
	slices.Sort(majors)
	slices.Reverse(majors)
	w := &weighted[majorModels]{}
	for _, v := range majors {
		mm := majorModels{major: v}
		for i, m := range p.models[pl].items {
			wt := p.models[pl].cum[i]
			if i > 0 {
				wt -= p.models[pl].cum[i-1]
			}
			if mr := p.byModel[m.Identifier]; mr != nil && mr.has(v) {
				mm.models.add(m, wt)
			}
		}
		if len(mm.models.items) == 0 {
			continue // no model of positive weight runs it by ShippedBy
		}
		w.add(mm, shares[v])
	}
	if len(w.items) == 0 {
		return fmt.Errorf("identity: no %s model of positive weight runs any major of the OS shares by %s", pl, p.cfg.ShippedBy.Format(time.DateOnly))
	}
	p.byMajor[pl] = w
	p.draws[pl] = &atomic.Uint64{}
	return nil
}

// has reports whether the model has a release of major.
func (mr *modelReleases) has(major int) bool {
	return mr.of(major) != nil
}

func (mr *modelReleases) of(major int) []catalog.Release {
	for _, rels := range mr.majors.items {
		if rels[0].Version().Major == major {
			return rels
		}
	}
	return nil
}

// weyl is the k-th point of the picker's low-discrepancy sequence in [0, 1).
func (p *Picker) weyl(k uint64) float64 {
	const invPhi = 0.6180339887498949
	x := p.phase + float64(k)*invPhi
	return x - float64(uint64(x))
}

type fixed float64

func (f fixed) Float64() float64 { return float64(f) }

// modelAndRelease draws a model of the platform and its starting release:
// with OS shares, the major first (in its share, stratified), then a model
// that runs it; without, the model first, then one of its majors.
func (p *Picker) modelAndRelease(platform catalog.Platform, r randSource) (*catalog.Model, catalog.Release, bool) {
	if platform == "" {
		platform = catalog.IOS
		if r.Float64() < 0.5 {
			platform = catalog.MacOS
		}
	}
	if w := p.byMajor[platform]; w != nil {
		k := p.draws[platform].Add(1) - 1
		mm, _ := w.pick(fixed(p.weyl(k)))
		m, ok := mm.models.pick(r)
		if !ok {
			return nil, catalog.Release{}, false
		}
		return m, newestMostly(p.byModel[m.Identifier].of(mm.major), r), true
	}
	w := p.models[platform]
	m, ok := w.pick(r)
	if !ok {
		return nil, catalog.Release{}, false
	}
	rel, ok := p.release(m, r)
	return m, rel, ok
}

func (p *Picker) release(m *catalog.Model, r randSource) (catalog.Release, bool) {
	mr := p.byModel[m.Identifier]
	if mr == nil {
		var err error
		if mr, err = p.releasesOf(m); err != nil {
			return catalog.Release{}, false
		}
	}
	rels, ok := mr.majors.pick(r)
	if !ok {
		return catalog.Release{}, false
	}
	return newestMostly(rels, r), true
}

// newestMostly picks within a major: the newest release about half the
// time, each older one about half as often as the one before.
func newestMostly(rels []catalog.Release, r randSource) catalog.Release {
	i := 0
	for i < len(rels)-1 && r.Float64() < 0.5 {
		i++
	}
	return rels[i]
}

func (p *Picker) enrollment(m *catalog.Model, r randSource) Enrollment {
	switch x := r.Float64(); {
	case x < p.cfg.ADE:
		return EnrollmentADE
	case m.Family != "Mac" && r.Float64() < p.cfg.Configurator:
		return EnrollmentConfigurator
	}
	return EnrollmentProfile
}

func (p *Picker) timeZone(r randSource) (string, bool) {
	return p.zones.pick(r)
}

// ModelWeightFunc weighs models by keys that are identifiers ("iPhone15,2"),
// prefixes ending in "*" ("iPhone17,*", "MacBookAir*"), or "*" for every
// other model: an identifier wins, then the longest matching prefix; a
// model no key matches weighs nothing. It reports a key that matches no model.
func ModelWeightFunc(weights map[string]float64) (func(*catalog.Model) float64, error) {
	keys := make([]string, 0, len(weights))
	for k := range weights {
		keys = append(keys, k)
	}
	// The most specific key wins: identifiers, then the longest prefix.
	slices.SortFunc(keys, func(a, b string) int {
		if pa, pb := strings.HasSuffix(a, "*"), strings.HasSuffix(b, "*"); pa != pb {
			if pb {
				return -1
			}
			return 1
		}
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	match := func(k string, m *catalog.Model) bool {
		if p, ok := strings.CutSuffix(k, "*"); ok {
			return strings.HasPrefix(m.Identifier, p)
		}
		return m.Identifier == k
	}
	for _, k := range keys {
		if !slices.ContainsFunc(modelPool()[""], func(m *catalog.Model) bool { return match(k, m) }) {
			return nil, fmt.Errorf("identity: model key %q matches no model", k)
		}
	}
	return func(m *catalog.Model) float64 {
		for _, k := range keys {
			if match(k, m) {
				return weights[k]
			}
		}
		return 0
	}, nil
}
