package identity

import (
	"fmt"
	"slices"
	"sort"
	"strings"
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
// Enrollment (DeviceInformation's EnrolledViaDEP).
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
	// ADE is the share of devices enrolled by Automated Device
	// Enrollment; Configurator the share of iPhones and iPads supervised
	// with Apple Configurator (of the rest); the others enrolled by a
	// profile and are not supervised.
	ADE, Configurator float64
}

// Picker draws models, OS releases, time zones and enrollments with the
// weights of a population. Its tables are built once and shared by every
// device it draws; drawing allocates nothing. A Picker is read-only once
// built and safe for concurrent use.
type Picker struct {
	cfg     PickerConfig
	models  map[catalog.Platform]weighted[*catalog.Model]
	zones   weighted[string]
	byModel map[string]*modelReleases
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
	p := &Picker{cfg: cfg, models: map[catalog.Platform]weighted[*catalog.Model]{}, byModel: map[string]*modelReleases{}}
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

func (p *Picker) model(platform catalog.Platform, r randSource) (*catalog.Model, bool) {
	if platform == "" {
		platform = catalog.IOS
		if r.Float64() < 0.5 {
			platform = catalog.MacOS
		}
	}
	w := p.models[platform]
	return w.pick(r)
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
	// Within a major, the newest release about half the time, each older
	// one about half as often as the one before.
	i := 0
	for i < len(rels)-1 && r.Float64() < 0.5 {
		i++
	}
	return rels[i], true
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
// other model: the longest matching key wins; a model no key matches
// weighs nothing. It reports a key that matches no model.
func ModelWeightFunc(weights map[string]float64) (func(*catalog.Model) float64, error) {
	keys := make([]string, 0, len(weights))
	for k := range weights {
		keys = append(keys, k)
	}
	// Longest first: the most specific key wins.
	slices.SortFunc(keys, func(a, b string) int {
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
