package fleet

import (
	_ "embed"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Population is the mix of users, devices and situations a fleet is drawn
// from: shares of the fleet (or of the devices a share applies to), each in
// [0, 1], and weights. The figures of DefaultPopulation (population.yaml,
// shipped as examples/population.yaml) are the simulator's choice, not
// measurements: a fleet where every way an update gets stuck shows up
// (docs/fidelity.md lists them). A population's tables are shared by every
// device drawn from it, never copied into one.
type Population struct {
	// Users: the shares who ignore every prompt, who dismiss them, and who
	// pick "tonight"; the rest act when asked. Of those who dismiss,
	// GiveIn give in after two to four dismissals.
	Ignores   float64 `yaml:"ignores"`
	Dismisses float64 `yaml:"dismisses"`
	Tonight   float64 `yaml:"tonight"`
	GiveIn    float64 `yaml:"give_in"`
	// BlockingApps (Macs): unsaved work holds the restart up.
	BlockingApps float64 `yaml:"blocking_apps"`
	DoNotDisturb float64 `yaml:"do_not_disturb"`
	// Passcode (iPhone and iPad): the user must authorise installs. Of
	// those, Locked are locked when the command comes and unlock one to
	// eight hours later, and LockedForever never do (a phone in a drawer).
	Passcode      float64 `yaml:"passcode"`
	Locked        float64 `yaml:"locked"`
	LockedForever float64 `yaml:"locked_forever"`
	// OnBattery (portables): not plugged in. LowBattery: of all portables,
	// on battery below 20%.
	OnBattery  float64 `yaml:"on_battery"`
	LowBattery float64 `yaml:"low_battery"`
	// DiskFull: less than a gigabyte free. Used only when FreeDisk is
	// empty; FreeDisk says the same with a band below 1 GB.
	DiskFull float64 `yaml:"disk_full"`
	// NoNetwork: Apple's update servers are out of reach.
	NoNetwork float64 `yaml:"no_network"`
	// NoBootstrapToken (Apple-silicon Macs): no token was ever escrowed.
	// NoSecureToken (Macs): the user is not a volume owner.
	NoBootstrapToken float64 `yaml:"no_bootstrap_token"`
	NoSecureToken    float64 `yaml:"no_secure_token"`
	// RequiresComputer (iPhone and iPad): no over-the-air update.
	RequiresComputer float64 `yaml:"requires_computer"`

	// OS is, per platform ("macOS", "iOS"), the share of each OS major
	// (they add up to 1): a device's major is drawn first, in its share
	// (stratified, so small fleets hold every major too), then a model
	// that runs it. Empty keeps the default: the model first, then its
	// newest release about half the time.
	OS map[catalog.Platform]map[int]float64 `yaml:"os"`
	// Models weighs models within their platform: keys are identifiers
	// ("iPhone15,2"), prefixes ending in "*" ("iPhone17,*") or "*" for
	// the rest; an identifier wins, then the longest matching prefix, and
	// a model no key matches is never drawn. Empty: every model alike.
	Models map[string]float64 `yaml:"models"`
	// Enrollment says how devices enrolled, and so which are supervised.
	Enrollment Enrollment `yaml:"enrollment"`
	// TimeZones weighs IANA time zones. Empty keeps the default spread.
	TimeZones map[string]float64 `yaml:"time_zones"`
	// FreeDisk is the free space, as bands of GB with their shares (adding
	// up to 1), drawn uniformly within a band and never above the
	// device's capacity. Empty: the identity's own draw, and DiskFull.
	FreeDisk []DiskBand `yaml:"free_disk"`
	// Failures are the chances that a step of an update fails.
	Failures update.Failures `yaml:"failures"`
}

// Enrollment is how a fleet's devices came under management.
type Enrollment struct {
	// ADE is the share enrolled by Automated Device Enrollment:
	// supervised, EnrolledViaDEP.
	ADE float64 `yaml:"ade"`
	// Configurator is, of the iPhones and iPads not enrolled by ADE, the
	// share supervised with Apple Configurator before their profile was
	// installed. The rest installed a profile they approved and are not
	// supervised (no Mac is supervised without ADE since macOS 11).
	Configurator float64 `yaml:"configurator"`
}

// DiskBand is a range of free space, in GB (base 10), and its share.
type DiskBand struct {
	MinGB float64 `yaml:"min_gb"`
	MaxGB float64 `yaml:"max_gb"`
	Share float64 `yaml:"share"`
}

//go:embed population.yaml
var defaultPopulationYAML []byte

// DefaultPopulationYAML is the default population file, as shipped in
// examples/population.yaml.
func DefaultPopulationYAML() []byte { return slices.Clone(defaultPopulationYAML) }

var defaultPopulation = sync.OnceValue(func() Population {
	p, err := ParsePopulation(defaultPopulationYAML, "population.yaml")
	if err != nil {
		panic(fmt.Sprintf("fleet: the embedded default population: %v", err))
	}
	return p
})

// DefaultPopulation is the mix `mdmsim run --scenario legacy-update` uses:
// population.yaml. Its maps are fresh copies; change them freely.
func DefaultPopulation() Population { return defaultPopulation().clone() }

func (p Population) clone() Population {
	q := p
	q.OS = make(map[catalog.Platform]map[int]float64, len(p.OS))
	for k, v := range p.OS {
		q.OS[k] = maps.Clone(v)
	}
	q.Models, q.TimeZones = maps.Clone(p.Models), maps.Clone(p.TimeZones)
	q.FreeDisk = slices.Clone(p.FreeDisk)
	return q
}

// Validate reports a share outside [0, 1], shares that must add up to one
// and do not, and users that add up to more than the fleet. Each error
// names the field as the population file spells it.
func (p Population) Validate() error {
	shares := []struct {
		name string
		v    float64
	}{
		{"ignores", p.Ignores}, {"dismisses", p.Dismisses}, {"tonight", p.Tonight}, {"give_in", p.GiveIn},
		{"blocking_apps", p.BlockingApps}, {"do_not_disturb", p.DoNotDisturb}, {"passcode", p.Passcode},
		{"locked", p.Locked}, {"locked_forever", p.LockedForever}, {"on_battery", p.OnBattery}, {"low_battery", p.LowBattery},
		{"disk_full", p.DiskFull}, {"no_network", p.NoNetwork}, {"no_bootstrap_token", p.NoBootstrapToken},
		{"no_secure_token", p.NoSecureToken}, {"requires_computer", p.RequiresComputer},
		{"enrollment.ade", p.Enrollment.ADE}, {"enrollment.configurator", p.Enrollment.Configurator},
		{"failures.download", p.Failures.Download}, {"failures.prepare", p.Failures.Prepare}, {"failures.apply", p.Failures.Apply},
	}
	for _, s := range shares {
		if !(s.v >= 0 && s.v <= 1) {
			return fieldError(s.name, "must be in [0,1], have %v", s.v)
		}
	}
	if p.Ignores+p.Dismisses+p.Tonight > 1 {
		return fieldError("ignores", "users (ignores + dismisses + tonight) add up to %v, more than 1", p.Ignores+p.Dismisses+p.Tonight)
	}
	if p.Locked+p.LockedForever > 1 {
		return fieldError("locked", "locked and locked_forever add up to %v, more than 1", p.Locked+p.LockedForever)
	}
	if p.OnBattery+p.LowBattery > 1 {
		return fieldError("on_battery", "on_battery and low_battery add up to %v, more than 1", p.OnBattery+p.LowBattery)
	}
	for _, pl := range slices.Sorted(maps.Keys(p.OS)) {
		if pl != catalog.MacOS && pl != catalog.IOS {
			return fieldError("os."+string(pl), "the platform must be %s or %s", catalog.MacOS, catalog.IOS)
		}
		sum := 0.0
		for _, major := range slices.Sorted(maps.Keys(p.OS[pl])) {
			v := p.OS[pl][major]
			if !(v >= 0 && v <= 1) {
				return fieldError(fmt.Sprintf("os.%s.%d", pl, major), "must be in [0,1], have %v", v)
			}
			sum += v
		}
		if math.Abs(sum-1) > 1e-6 {
			return fieldError("os."+string(pl), "shares add up to %v, want 1", sum)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Models)) {
		if v := p.Models[k]; !(v >= 0) || math.IsInf(v, 0) {
			return fieldError("models."+k, "weight must be 0 or more, have %v", v)
		}
	}
	if _, err := identity.ModelWeightFunc(p.Models); err != nil {
		return fieldError("models", "%v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(p.TimeZones)) {
		if v := p.TimeZones[k]; !(v >= 0) || math.IsInf(v, 0) {
			return fieldError("time_zones."+k, "weight must be 0 or more, have %v", v)
		}
		if _, err := time.LoadLocation(k); err != nil || k == "" || k == "Local" {
			return fieldError("time_zones."+k, "not an IANA time zone")
		}
	}
	sum := 0.0
	for i, b := range p.FreeDisk {
		if !(b.MinGB >= 0 && b.MaxGB >= b.MinGB) || math.IsInf(b.MaxGB, 0) {
			return fieldError(fmt.Sprintf("free_disk[%d]", i), "want 0 <= min_gb <= max_gb, have %v and %v", b.MinGB, b.MaxGB)
		}
		if !(b.Share >= 0 && b.Share <= 1) {
			return fieldError(fmt.Sprintf("free_disk[%d].share", i), "must be in [0,1], have %v", b.Share)
		}
		sum += b.Share
	}
	if len(p.FreeDisk) > 0 && math.Abs(sum-1) > 1e-6 {
		return fieldError("free_disk", "shares add up to %v, want 1", sum)
	}
	return nil
}

// FieldError is a population value Validate refuses. Field is the key's
// path as a population file spells it ("os.iOS", "free_disk[0].share");
// Line, when ParsePopulation knows it, is where the file sets it.
type FieldError struct {
	Field string
	Line  int
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("fleet: population %s: %s", e.Field, e.Msg)
}

func fieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// picker is the identity draw of the population: model and OS weights,
// time zones and enrollment, for a fleet starting at start.
func (p Population) picker(cat *catalog.Catalog, start time.Time, seed int64) (*identity.Picker, error) {
	cfg := identity.PickerConfig{Catalog: cat, ShippedBy: start, Seed: seed, OSShares: p.OS, TimeZones: p.TimeZones,
		ADE: p.Enrollment.ADE, Configurator: p.Enrollment.Configurator}
	if len(p.Models) > 0 {
		w, err := identity.ModelWeightFunc(p.Models)
		if err != nil {
			return nil, fmt.Errorf("fleet: population models: %w", err)
		}
		cfg.ModelWeight = w
	}
	pk, err := identity.NewPicker(cfg)
	if err != nil {
		return nil, fmt.Errorf("fleet: population: %w", err)
	}
	return pk, nil
}

// situation is what a Population draws for one device, applied apart
// from the draw so that a shard can draw for devices it does not hold and
// keep the stream where an unsharded run has it.
type situation struct {
	user    update.UserProfile
	env     update.Environment
	battery float64 // set when > 0
	free    float64 // available capacity, set when freeSet
	freeSet bool
}

// apply gives d its situation.
func (s situation) apply(d *simulator.Device) {
	if s.battery > 0 {
		d.SetBatteryLevel(s.battery)
	}
	if s.freeSet {
		d.SetAvailableCapacity(s.free)
	}
	d.SetUserProfile(s.user)
	d.SetEnvironment(s.env)
}

// draw draws one device's user and situation from r.
func (p Population) draw(id identity.Identity, r *rand.Rand) situation {
	mac := id.Model.Family == "Mac"
	portable := !mac || strings.HasPrefix(id.Model.ModelName, "MacBook")
	var s situation
	u, e := &s.user, &s.env
	switch x := r.Float64(); {
	case x < p.Ignores:
		u.Response = update.UserIgnores
	case x < p.Ignores+p.Dismisses:
		u.Response = update.UserDismisses
		if r.Float64() < p.GiveIn {
			u.DismissLimit = 2 + r.IntN(3)
		}
	case x < p.Ignores+p.Dismisses+p.Tonight:
		u.Response = update.UserTonight
	}
	u.DoNotDisturb = r.Float64() < p.DoNotDisturb
	if mac {
		u.BlockingApps = r.Float64() < p.BlockingApps
		u.NoSecureToken = r.Float64() < p.NoSecureToken
		e.NoBootstrapToken = id.Model.AppleSilicon && r.Float64() < p.NoBootstrapToken
	} else {
		u.Passcode = r.Float64() < p.Passcode
		if u.Passcode {
			switch x := r.Float64(); {
			case x < p.LockedForever:
				e.Locked = true
			case x < p.LockedForever+p.Locked:
				e.Locked, e.UnlockAfter = true, time.Hour+time.Duration(r.Int64N(int64(7*time.Hour)))
			}
		}
		e.RequiresComputer = r.Float64() < p.RequiresComputer
	}
	if portable {
		switch x := r.Float64(); {
		case x < p.LowBattery:
			e.OnBattery = true
			s.battery = math.Round((0.03+0.14*r.Float64())*100) / 100
		case x < p.LowBattery+p.OnBattery:
			e.OnBattery = true
		}
	}
	switch {
	case len(p.FreeDisk) > 0:
		x, b := r.Float64(), p.FreeDisk[len(p.FreeDisk)-1]
		for _, band := range p.FreeDisk {
			if x < band.Share {
				b = band
				break
			}
			x -= band.Share
		}
		gb := b.MinGB + (b.MaxGB-b.MinGB)*r.Float64()
		s.free, s.freeSet = math.Round(min(gb, 0.95*id.DeviceCapacity)*100)/100, true
	case r.Float64() < p.DiskFull:
		s.free, s.freeSet = math.Round((0.1+0.8*r.Float64())*100)/100, true
	}
	e.NoNetwork = r.Float64() < p.NoNetwork
	return s
}

// validateQuirks checks quirk names and shares.
func validateQuirks(q map[string]float64) error {
	for name, f := range q {
		if _, err := update.LookupQuirk(name); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		if !(f >= 0 && f <= 1) {
			return fmt.Errorf("fleet: quirk %s share must be in [0,1], have %v", name, f)
		}
	}
	return nil
}

// applyQuirks switches each named quirk on for its share of the devices it
// applies to (its platform), chosen from the seed, and off for the others.
// platforms are those of the whole fleet, in its order; devices are the
// block of it from lo (a shard's): the choice is made over the whole
// fleet, so a device has a quirk in a shard exactly when it has it in the
// unsharded fleet.
func applyQuirks(platforms []catalog.Platform, devices []*simulator.Device, lo int, q map[string]float64, seed int64) {
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	hi := lo + len(devices)
	for _, name := range names {
		quirk, _ := update.LookupQuirk(name)
		var eligible []int
		for i, p := range platforms {
			if quirk.Platform == "" || p == quirk.Platform {
				eligible = append(eligible, i)
			}
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		r := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
		order := r.Perm(len(eligible))
		n := int(math.Round(q[name] * float64(len(eligible))))
		for i, j := range order {
			if g := eligible[j]; g >= lo && g < hi {
				_ = devices[g-lo].SetQuirk(name, i < n)
			}
		}
	}
}

// QuirkCounts reports how many devices have each quirk on.
func (f *Fleet) QuirkCounts() map[string]int {
	out := map[string]int{}
	for _, d := range f.devices {
		for _, q := range d.ActiveQuirks() {
			out[q]++
		}
	}
	return out
}

// populationStream is the random stream of a fleet's users and
// situations, apart from the identities' (which a population's weights
// shape through identity.Picker).
func populationStream(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x706f70756c6174))
}
