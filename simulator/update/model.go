package update

import (
	"errors"
	"fmt"
	"time"
)

// Timings are the durations, speeds and thresholds of the software
// update engine. The defaults come from the parameter table of
// update-behaviour.md §7; values the sources do not give are marked U there
// and here, and every one can be changed. Each device draws its own value
// inside a Range from its seeded generator, so the same seed replays the same
// timings.
//
// Start from DefaultTimings and change what a scenario needs: the zero
// value is not valid.
type Timings struct {
	// MacBandwidth and IOSBandwidth are download speeds in bytes per second.
	// 1.6 GB in 2.5 min (a 13.0 → 13.3.1 log) is about 10.7 MB/s; iOS has no
	// published figure (U).
	MacBandwidth float64
	IOSBandwidth float64
	// BandwidthJitter spreads a download's speed over
	// [bw×(1-j), bw×(1+j)]; 0 disables it.
	BandwidthJitter float64

	// AcceptLatency is the wait between ScheduleOSUpdate and the start of
	// the download: about a minute on macOS, a few seconds on iOS (U).
	AcceptLatencyMac Range
	AcceptLatencyIOS Range
	// Prepare is the preparing phase after the download, reported as
	// Downloading: 8–11 min on macOS; iOS and security responses are U.
	PrepareMac Range
	PrepareIOS Range
	PrepareRSR Range
	// Apply is the Installing phase the device still answers in; Restart is
	// how long it is silent before it is back on the new OS. macOS: 2–3 min
	// applying (VM logs), 10–30 min on real hardware in total; iOS U.
	ApplyMac   Range
	ApplyIOS   Range
	RestartMac Range
	RestartIOS Range

	// Countdown is the dismissible InstallASAP restart countdown (60 s).
	Countdown time.Duration
	// CountdownRepeat shows a dismissed countdown again after this long; 0
	// (the default, U) shows it again only when the server resends.
	CountdownRepeat time.Duration
	// PromptInterval is how often InstallLater prompts the user (24 h), and
	// how often an iOS update prompt comes back after "Remind Me Later" (U).
	PromptInterval time.Duration
	// NightStart and NightWindow place "tonight": an install scheduled for
	// the night starts NightStart after local midnight plus up to
	// NightWindow (U).
	NightStart  time.Duration
	NightWindow time.Duration
	// UserResponse is how long a user takes to act on a prompt (U); a
	// UserProfile.ResponseDelay overrides it.
	UserResponse Range

	// ScanForce and ScanBackground are how long a macOS ScheduleOSUpdateScan
	// takes with Force true, and when the system runs it without (U).
	ScanForce      Range
	ScanBackground Range
	// IOSScanTimeout is dmd's inline scan timeout (120 s): an iPhone that
	// cannot reach Apple answers AvailableOSUpdates that much later, with a
	// timeout error (U).
	IOSScanTimeout time.Duration
	// DetectionInterval lets Software Update's own periodic check (every
	// 24 h) refresh the list a Mac answers AvailableOSUpdates from. The
	// default, 0, keeps the list until a ScheduleOSUpdateScan or a restart,
	// which is what the MDM path shows (update-behaviour.md B1.2).
	DetectionInterval time.Duration
	// IOSUserDeferrals is how often an iOS user with a passcode may choose
	// "Remind Me Later" before the prompt comes back at every return to the
	// Home Screen, which the simulated user gives in to (3).
	IOSUserDeferrals int

	// MinDownloadBattery and MinInstallBattery are the battery levels below
	// which a device that is not on power refuses to download (U) and to
	// install (50%, as the iOS prompt says).
	MinDownloadBattery float64
	MinInstallBattery  float64
	// HighPrioritySpeedup divides download and prepare times of a minor
	// update scheduled with Priority High (U).
	HighPrioritySpeedup float64

	// Deferrals is the MaxUserDeferrals counting policy.
	Deferrals DeferralPolicy

	// SlowDownloadFactor (quirk slow-background-download) divides the
	// bandwidth, and SlowDownloadFailure is the chance such a download
	// fails (U).
	SlowDownloadFactor  float64
	SlowDownloadFailure float64
	// PrepareStall replaces the prepare time under quirk prepare-stall (U).
	PrepareStall time.Duration
}

// Range is a duration drawn uniformly in [Min, Max] per device and phase;
// Min == Max gives a fixed duration.
type Range struct{ Min, Max time.Duration }

// DeferralPolicy says when InstallLater with MaxUserDeferrals uses up a
// deferral.
type DeferralPolicy int

const (
	// DeferOnInteraction uses a deferral only when the user acts on the
	// prompt ("Remind me tomorrow"): a user who ignores every prompt never
	// uses them up and MaxUserDeferrals never forces the install. This is the
	// behaviour the field reports, and the default.
	DeferOnInteraction DeferralPolicy = iota
	// DeferNightly also uses one each night the update is not installed,
	// what admins asked Apple for.
	DeferNightly
)

func (p DeferralPolicy) String() string {
	if p == DeferNightly {
		return "nightly"
	}
	return "on-interaction"
}

// Defaults of Timings.
const (
	DefaultMacBandwidth        = 1.6e9 / 150
	DefaultIOSBandwidth        = 8e6
	DefaultBandwidthJitter     = 0.5
	DefaultCountdown           = 60 * time.Second
	DefaultPromptInterval      = 24 * time.Hour
	DefaultNightStart          = 2 * time.Hour
	DefaultNightWindow         = 2 * time.Hour
	DefaultIOSScanTimeout      = 120 * time.Second
	DefaultIOSUserDeferrals    = 3
	DefaultMinDownloadBattery  = 0.2
	DefaultMinInstallBattery   = 0.5
	DefaultHighPrioritySpeedup = 2
	DefaultSlowDownloadFactor  = 10
	DefaultSlowDownloadFailure = 0.3
	DefaultPrepareStall        = 24 * time.Hour
)

// DefaultTimings returns the §7 defaults.
func DefaultTimings() Timings {
	return Timings{
		MacBandwidth:        DefaultMacBandwidth,
		IOSBandwidth:        DefaultIOSBandwidth,
		BandwidthJitter:     DefaultBandwidthJitter,
		AcceptLatencyMac:    Range{30 * time.Second, 90 * time.Second},
		AcceptLatencyIOS:    Range{2 * time.Second, 15 * time.Second},
		PrepareMac:          Range{8 * time.Minute, 11 * time.Minute},
		PrepareIOS:          Range{3 * time.Minute, 8 * time.Minute},
		PrepareRSR:          Range{1 * time.Minute, 3 * time.Minute},
		ApplyMac:            Range{2 * time.Minute, 3 * time.Minute},
		ApplyIOS:            Range{2 * time.Minute, 5 * time.Minute},
		RestartMac:          Range{10 * time.Minute, 30 * time.Minute},
		RestartIOS:          Range{5 * time.Minute, 15 * time.Minute},
		Countdown:           DefaultCountdown,
		PromptInterval:      DefaultPromptInterval,
		NightStart:          DefaultNightStart,
		NightWindow:         DefaultNightWindow,
		UserResponse:        Range{1 * time.Minute, 2 * time.Hour},
		ScanForce:           Range{10 * time.Second, 60 * time.Second},
		ScanBackground:      Range{5 * time.Minute, 30 * time.Minute},
		IOSScanTimeout:      DefaultIOSScanTimeout,
		IOSUserDeferrals:    DefaultIOSUserDeferrals,
		MinDownloadBattery:  DefaultMinDownloadBattery,
		MinInstallBattery:   DefaultMinInstallBattery,
		HighPrioritySpeedup: DefaultHighPrioritySpeedup,
		Deferrals:           DeferOnInteraction,
		SlowDownloadFactor:  DefaultSlowDownloadFactor,
		SlowDownloadFailure: DefaultSlowDownloadFailure,
		PrepareStall:        DefaultPrepareStall,
	}
}

// ErrTimings is returned (wrapped) by Timings.Validate.
var ErrTimings = errors.New("update: invalid timings")

// Validate reports the first value that cannot work.
func (t Timings) Validate() error {
	bad := func(name string, v any) error { return fmt.Errorf("%w: %s = %v", ErrTimings, name, v) }
	for name, r := range map[string]Range{
		"AcceptLatencyMac": t.AcceptLatencyMac, "AcceptLatencyIOS": t.AcceptLatencyIOS,
		"PrepareMac": t.PrepareMac, "PrepareIOS": t.PrepareIOS, "PrepareRSR": t.PrepareRSR,
		"ApplyMac": t.ApplyMac, "ApplyIOS": t.ApplyIOS, "RestartMac": t.RestartMac, "RestartIOS": t.RestartIOS,
		"UserResponse": t.UserResponse, "ScanForce": t.ScanForce, "ScanBackground": t.ScanBackground,
	} {
		if r.Min < 0 || r.Max < r.Min {
			return bad(name, r)
		}
	}
	switch {
	case !(t.MacBandwidth > 0):
		return bad("MacBandwidth", t.MacBandwidth)
	case !(t.IOSBandwidth > 0):
		return bad("IOSBandwidth", t.IOSBandwidth)
	case t.BandwidthJitter < 0 || t.BandwidthJitter >= 1:
		return bad("BandwidthJitter", t.BandwidthJitter)
	case t.Countdown < 0 || t.CountdownRepeat < 0 || t.NightWindow < 0 || t.IOSScanTimeout < 0 || t.PrepareStall < 0 || t.DetectionInterval < 0:
		return bad("a duration", "negative")
	case t.PromptInterval <= 0:
		return bad("PromptInterval", t.PromptInterval)
	case t.NightStart < 0 || t.NightStart >= 24*time.Hour:
		return bad("NightStart", t.NightStart)
	case t.IOSUserDeferrals < 0:
		return bad("IOSUserDeferrals", t.IOSUserDeferrals)
	case t.MinDownloadBattery < 0 || t.MinDownloadBattery > 1 || t.MinInstallBattery < 0 || t.MinInstallBattery > 1:
		return bad("a battery threshold", "outside [0,1]")
	case !(t.HighPrioritySpeedup >= 1) || !(t.SlowDownloadFactor >= 1):
		return bad("a speed factor", "below 1")
	case t.SlowDownloadFailure < 0 || t.SlowDownloadFailure > 1:
		return bad("SlowDownloadFailure", t.SlowDownloadFailure)
	case t.Deferrals != DeferOnInteraction && t.Deferrals != DeferNightly:
		return bad("Deferrals", int(t.Deferrals))
	}
	return nil
}

// UserResponse is how the person in front of a device answers update
// prompts.
type UserResponse int

const (
	// UserActs installs when asked: "Restart Now", the passcode, quitting
	// the apps that block a restart.
	UserActs UserResponse = iota
	// UserTonight picks "Install Tonight" / "Try Tonight".
	UserTonight
	// UserDismisses defers: "Remind Me Later", dismissing the restart
	// countdown. With UserProfile.DismissLimit it gives in after that many.
	UserDismisses
	// UserIgnores never touches a prompt.
	UserIgnores
)

var userResponseNames = [...]string{"acts", "tonight", "dismisses", "ignores"}

func (r UserResponse) String() string {
	if r >= 0 && int(r) < len(userResponseNames) {
		return userResponseNames[r]
	}
	return fmt.Sprintf("UserResponse(%d)", int(r))
}

// UserProfile is the user of a device. The zero value is a cooperative user
// of a device without passcode or unsaved work.
type UserProfile struct {
	Response UserResponse
	// DismissLimit: a UserDismisses user gives in after this many
	// dismissals; 0 means never.
	DismissLimit int
	// ResponseDelay overrides Timings.UserResponse when set.
	ResponseDelay time.Duration
	// BlockingApps: apps with unsaved work hold up a restart until the user
	// quits them; InstallForceRestart does not wait and loses the work.
	BlockingApps bool
	// DoNotDisturb hides notifications (InstallLater, NotifyOnly and iOS
	// update prompts): the user never sees them.
	DoNotDisturb bool
	// Passcode (iOS): the user must enter it to authorise an install.
	Passcode bool
	// NoSecureToken (Apple-silicon Mac): the user is not a volume owner and
	// cannot authorise an update when no bootstrap token is available.
	NoSecureToken bool
}

// Environment is the device's situation. The zero value is a device on power
// and a good network, unlocked, that has escrowed its bootstrap token. Free
// space and battery level are the Identity's AvailableDeviceCapacity and
// BatteryLevel, which DeviceInformation reports.
type Environment struct {
	// OnBattery: not plugged in, so Identity.BatteryLevel counts.
	OnBattery bool
	// NoNetwork: the device reaches its MDM server but not Apple's update
	// servers (a proxy, a captive portal, a cellular-only iPad).
	NoNetwork bool
	// Locked (iOS with a passcode): ScheduleOSUpdate answers NotNow until
	// the user unlocks it, UnlockAfter later (0: not on its own; see
	// Device.SetLocked).
	Locked      bool
	UnlockAfter time.Duration
	// PhoneCall: a call is in progress when the install would start.
	PhoneCall bool
	// NoBootstrapToken (Apple-silicon Mac): no bootstrap token was ever
	// escrowed, because no secure-token user logged in after enrollment.
	NoBootstrapToken bool
	// RequiresComputer (iOS): the update cannot be downloaded over the air.
	RequiresComputer bool
}

// Failures are the chances that a step of an update fails on a device, each
// time the step runs: the simulator's own figures (docs/fidelity.md), as
// Apple publishes no failure rates. A failed step stops the update: the
// legacy commands answer with the UpdateResults status and an ErrorChain,
// DDM enforcement reports install-state "failed" and tries again later.
type Failures struct {
	// Download: the download fails (DownloadFailed); nothing is kept.
	Download float64 `yaml:"download"`
	// Prepare: preparing the downloaded update fails (InstallFailed); it
	// must be downloaded again.
	Prepare float64 `yaml:"prepare"`
	// Apply: applying the update fails during the restart (InstallFailed);
	// the device comes back on the OS it ran.
	Apply float64 `yaml:"apply"`
}

// Zero reports whether no step ever fails.
func (f Failures) Zero() bool { return f.Download == 0 && f.Prepare == 0 && f.Apply == 0 }
