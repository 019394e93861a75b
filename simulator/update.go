package simulator

import (
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// WithUpdateTimings sets the software-update timings of an Env. Invalid
// timings are a programmer error and panic.
func WithUpdateTimings(t update.Timings) Option {
	if err := t.Validate(); err != nil {
		panic(err)
	}
	return func(e *Env) { e.timings = t }
}

// WithFailures sets the chances that a step of an update fails (update.
// Failures), shared by every device of the Env; the draws come from each
// device's seeded generator. The zero value (the default) never fails.
func WithFailures(f update.Failures) Option {
	for _, v := range []float64{f.Download, f.Prepare, f.Apply} {
		if !(v >= 0 && v <= 1) {
			panic(fmt.Sprintf("simulator: failure chance %v not in [0,1]", v))
		}
	}
	return func(e *Env) { e.failures = f }
}

// WithCatalog sets the release catalog the devices read.
func WithCatalog(c *catalog.Catalog) Option { return func(e *Env) { e.catalog = c } }

// UpdatePhase is where a device's software update stands.
type UpdatePhase string

// Phases of an update, in order. A device with no update in progress is in
// PhaseNone.
const (
	PhaseNone        UpdatePhase = ""
	PhaseQueued      UpdatePhase = "queued"      // accepted; the download has not started
	PhaseDownloading UpdatePhase = "downloading" // OSUpdateStatus: Downloading
	PhasePreparing   UpdatePhase = "preparing"   // OSUpdateStatus: Downloading, as Apple reports it
	PhasePrepared    UpdatePhase = "prepared"    // downloaded; waiting for the install action, the user or an authoriser
	PhaseCountdown   UpdatePhase = "countdown"   // restart countdown, or about to install
	PhaseInstalling  UpdatePhase = "installing"  // OSUpdateStatus: Installing
	PhaseRestarting  UpdatePhase = "restarting"  // offline
)

// UpdateState is a snapshot of a device's software update, for tests,
// reports and the fleet.
type UpdateState struct {
	Phase       UpdatePhase
	ProductKey  string
	Version     string
	Build       string
	Action      string // the InstallAction the device reported
	Downloaded  bool
	Percent     float64
	WaitingFor  string // "user", "volume-owner", "apps", "power", "space", "night", "phone-call", "server" when prepared
	MaxDeferral int    // -1 without MaxUserDeferrals
	Deferrals   int    // remaining
	Dismissals  int
	Prompts     int
	NextInstall time.Time
	Reason      string // why the install was started: "mdm", or what a caller set
}

// UpdateRecord is one install a device carried out.
type UpdateRecord struct {
	FromVersion, FromBuild string
	ToVersion, ToBuild     string
	ProductKey             string
	Action                 string
	Reason                 string
	// DataLoss: the restart was forced over apps with unsaved work.
	DataLoss    bool
	InstalledAt time.Time
}

// maxHistory bounds what a device remembers of its installs.
const maxHistory = 16

// UserProfile returns the device's user.
func (d *Device) UserProfile() update.UserProfile {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sw.user
}

// Environment returns the device's situation.
func (d *Device) Environment() update.Environment {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sw.env
}

// UpdateState returns the device's software-update state.
func (d *Device) UpdateState() UpdateState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.updateStateLocked()
}

// UpdateHistory returns the installs the device carried out, oldest first.
func (d *Device) UpdateHistory() []UpdateRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sw.more == nil {
		return nil
	}
	return append([]UpdateRecord(nil), d.sw.more.history...)
}

// SetUserProfile replaces the device's user. It takes effect at the next
// prompt.
func (d *Device) SetUserProfile(u update.UserProfile) {
	d.mu.Lock()
	d.sw.user = u
	d.mu.Unlock()
}

// SetEnvironment replaces the device's situation. Unlocking a device whose
// last session ended on NotNow makes it poll the server, as real devices do
// when conditions change.
func (d *Device) SetEnvironment(e update.Environment) {
	d.mu.Lock()
	unlocked := d.sw.env.Locked && !e.Locked
	d.sw.env = e
	d.powerChangedLocked()
	d.mu.Unlock()
	if unlocked {
		d.conditionsChanged()
	}
}

// SetLocked locks or unlocks the device (see Environment.Locked).
func (d *Device) SetLocked(locked bool) {
	d.mu.Lock()
	e := d.sw.env
	d.mu.Unlock()
	e.Locked = locked
	d.SetEnvironment(e)
}

// SetAvailableCapacity sets the free space (GB) the device reports and
// checks updates against.
func (d *Device) SetAvailableCapacity(gb float64) {
	d.mu.Lock()
	d.id.AvailableDeviceCapacity = gb
	d.mu.Unlock()
}

// SetBatteryLevel sets the battery level (0–1) the device reports and checks
// updates against.
func (d *Device) SetBatteryLevel(level float64) {
	d.mu.Lock()
	d.id.BatteryLevel = level
	d.powerChangedLocked()
	d.mu.Unlock()
}
