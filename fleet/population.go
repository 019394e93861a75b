package fleet

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Population is the mix of users and situations a fleet's devices are drawn
// from: shares of the fleet (or of the devices a share applies to), each in
// [0, 1]. The figures of DefaultPopulation are the simulator's choice, not
// measurements: a fleet where every way an update gets stuck shows up.
type Population struct {
	// Users: the shares who ignore every prompt, who dismiss them, and who
	// pick "tonight"; the rest act when asked. Of those who dismiss,
	// GiveIn give in after two to four dismissals.
	Ignores, Dismisses, Tonight float64
	GiveIn                      float64
	// BlockingApps (Macs): unsaved work holds the restart up.
	BlockingApps float64
	DoNotDisturb float64
	// Passcode (iPhone and iPad): the user must authorise installs. Of
	// those, Locked are locked when the command comes and unlock one to
	// eight hours later, and LockedForever never do (a phone in a drawer).
	Passcode      float64
	Locked        float64
	LockedForever float64
	// OnBattery (portables): not plugged in. LowBattery: of all portables,
	// on battery below 20%.
	OnBattery  float64
	LowBattery float64
	// DiskFull: less than a gigabyte free.
	DiskFull float64
	// NoNetwork: Apple's update servers are out of reach.
	NoNetwork float64
	// NoBootstrapToken (Apple-silicon Macs): no token was ever escrowed.
	// NoSecureToken (Macs): the user is not a volume owner.
	NoBootstrapToken float64
	NoSecureToken    float64
	// RequiresComputer (iPhone and iPad): no over-the-air update.
	RequiresComputer float64
}

// DefaultPopulation is the mix `mdmsim run --scenario legacy-update` uses.
func DefaultPopulation() Population {
	return Population{
		Ignores: 0.15, Dismisses: 0.15, Tonight: 0.15, GiveIn: 0.5,
		BlockingApps: 0.3, DoNotDisturb: 0.1,
		Passcode: 0.9, Locked: 0.1, LockedForever: 0.02,
		OnBattery: 0.1, LowBattery: 0.03,
		DiskFull: 0.03, NoNetwork: 0.02,
		NoBootstrapToken: 0.2, NoSecureToken: 0.3,
		RequiresComputer: 0.01,
	}
}

// Validate reports a share outside [0, 1] or users that add up to more
// than the fleet.
func (p Population) Validate() error {
	for name, v := range map[string]float64{
		"Ignores": p.Ignores, "Dismisses": p.Dismisses, "Tonight": p.Tonight, "GiveIn": p.GiveIn,
		"BlockingApps": p.BlockingApps, "DoNotDisturb": p.DoNotDisturb, "Passcode": p.Passcode,
		"Locked": p.Locked, "LockedForever": p.LockedForever, "OnBattery": p.OnBattery, "LowBattery": p.LowBattery,
		"DiskFull": p.DiskFull, "NoNetwork": p.NoNetwork, "NoBootstrapToken": p.NoBootstrapToken,
		"NoSecureToken": p.NoSecureToken, "RequiresComputer": p.RequiresComputer,
	} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("fleet: population %s must be in [0,1], have %v", name, v)
		}
	}
	if p.Ignores+p.Dismisses+p.Tonight > 1 {
		return fmt.Errorf("fleet: population users add up to %v", p.Ignores+p.Dismisses+p.Tonight)
	}
	if p.Locked+p.LockedForever > 1 {
		return fmt.Errorf("fleet: population Locked and LockedForever add up to %v", p.Locked+p.LockedForever)
	}
	return nil
}

// draw gives one device its user and situation.
func (p Population) draw(d *simulator.Device, r *rand.Rand) {
	id := d.Identity()
	mac := id.Model.Family == "Mac"
	portable := !mac || strings.HasPrefix(id.Model.ModelName, "MacBook")
	var u update.UserProfile
	var e update.Environment
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
			d.SetBatteryLevel(math.Round((0.03+0.14*r.Float64())*100) / 100)
		case x < p.LowBattery+p.OnBattery:
			e.OnBattery = true
		}
	}
	if r.Float64() < p.DiskFull {
		d.SetAvailableCapacity(math.Round((0.1+0.8*r.Float64())*100) / 100)
	}
	e.NoNetwork = r.Float64() < p.NoNetwork
	d.SetUserProfile(u)
	d.SetEnvironment(e)
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
func applyQuirks(devices []*simulator.Device, q map[string]float64, seed int64) {
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		quirk, _ := update.LookupQuirk(name)
		var eligible []*simulator.Device
		for _, d := range devices {
			if quirk.Platform == "" || d.Identity().Model.Platform == quirk.Platform {
				eligible = append(eligible, d)
			}
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		r := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
		order := r.Perm(len(eligible))
		n := int(math.Round(q[name] * float64(len(eligible))))
		for i, j := range order {
			_ = eligible[j].SetQuirk(name, i < n)
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

// populationStream is the random stream of a fleet's population, apart
// from the identities', so adding a population never changes which devices
// are drawn.
func populationStream(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x706f70756c6174))
}
