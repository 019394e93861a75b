package update

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mdmsim/mdmsim/catalog"
)

// Quirk is one device-side oddity of the software-update commands that the
// field has reported (update-behaviour.md §5). Quirks are switched on per
// device by name; a quirk observed only on old OS versions still applies to
// whatever version the device runs, so a server can be tested against it.
type Quirk struct {
	// Name is what SetQuirk and a fleet's Quirks map take.
	Name string
	// ID is the quirk's row in update-behaviour.md §5.
	ID string
	// Platform is where it happens; empty means every platform.
	Platform catalog.Platform
	// Default quirks are on unless switched off.
	Default bool
	// Observed and Doc say where it was seen and what the device does.
	Observed string
	Doc      string
}

// Quirk names.
const (
	QuirkRebootGap              = "reboot-gap"
	QuirkLaterReportsInstalling = "later-reports-installing"
	QuirkScheduleNoResults      = "schedule-no-results"
	QuirkASAPFailsButPrompts    = "asap-fails-but-prompts"
	QuirkAvailableErrorWhenNone = "available-error-when-none"
	QuirkAvailableMinorOnly     = "available-minor-only"
	QuirkAvailableLatestMajor   = "available-latest-major-only"
	QuirkAvailableEmpty         = "available-empty"
	QuirkSlowBackgroundDownload = "slow-background-download"
	QuirkAutoDownloadConflict   = "auto-download-conflict"
	QuirkUpToDateShown          = "up-to-date-shown"
	QuirkPrepareStall           = "prepare-stall"
	QuirkBootstrapTokenNag      = "bootstrap-token-nag"
	QuirkWrongProductKey        = "wrong-product-key"
	QuirkDDMNoWarning           = "ddm-no-warning"
	QuirkADENewerMajor          = "ade-newer-major"
)

var quirkTable = []Quirk{
	{QuirkRebootGap, "Q1", "", true, "iOS/macOS (Apple's documentation)",
		"a ScheduleOSUpdate resent after the update's restart is acknowledged with no UpdateResults; off, it answers Idle"},
	{QuirkLaterReportsInstalling, "Q2", catalog.IOS, false, "iOS 12 (rdar 45414727)",
		"an update the user scheduled for tonight reports Installing, and a resent ScheduleOSUpdate installs it at once"},
	{QuirkScheduleNoResults, "Q3", catalog.IOS, false, "iOS 11.3.1 (rdar 40161553)",
		"ScheduleOSUpdate is acknowledged with nothing but the status, yet acted on"},
	{QuirkASAPFailsButPrompts, "Q4", catalog.IOS, false, "iOS 11.4 with a passcode (rdar 45414692)",
		"InstallASAP answers InstallFailed but the device still shows the install prompt"},
	{QuirkAvailableErrorWhenNone, "Q5", catalog.IOS, false, "iOS 11.3–11.4 (rdar 39170807)",
		"AvailableOSUpdates answers Error 2213 instead of an empty array when nothing is available"},
	{QuirkAvailableMinorOnly, "Q6", catalog.MacOS, false, "macOS 10.13 (rdar 44950876)",
		"AvailableOSUpdates lists minor updates only, no major upgrade"},
	{QuirkAvailableLatestMajor, "Q6", catalog.MacOS, false, "macOS before 15, 2025 (super #317)",
		"AvailableOSUpdates lists only the newest major upgrade, not the intermediate one"},
	{QuirkAvailableEmpty, "Q7", catalog.MacOS, false, "macOS 15.1 (super #273)",
		"AvailableOSUpdates is empty while Software Update shows an update; scheduling it by version still works"},
	{QuirkSlowBackgroundDownload, "Q8", catalog.MacOS, false, "macOS 11.4–11.6 (Kandji)",
		"downloads crawl in the background and DownloadOnly fails now and then; OSUpdateStatus is sometimes empty meanwhile"},
	{QuirkAutoDownloadConflict, "Q9", catalog.MacOS, false, "macOS (Devicie)",
		"automatic download already cached the update: the install action is skipped and the update sits downloaded and idle"},
	{QuirkUpToDateShown, "Q10", catalog.MacOS, false, "macOS 12–13 (Fleet)",
		"Software Update says the Mac is up to date, so the user never finds the pending update behind a notification"},
	{QuirkPrepareStall, "Q11", catalog.MacOS, false, "macOS 13 (super #95, #104)",
		"preparing stalls for Timings.PrepareStall"},
	{QuirkDDMNoWarning, "Q12", catalog.MacOS, false, "macOS 14/15 (Fleet #25127)",
		"a DDM enforcement shows no notification and no restart countdown: the Mac restarts at the deadline without warning"},
	{QuirkBootstrapTokenNag, "Q15", catalog.MacOS, false, "macOS 13–15, Apple silicon (Workspace ONE, Update_macOS_DDM #25)",
		"the Mac asks the user to authenticate even with a bootstrap token escrowed, and keeps sending GetBootstrapToken after an update"},
	{QuirkADENewerMajor, "Q16", catalog.MacOS, false, "macOS 15 to 26 (Fleet #33499)",
		"told at enrollment (ADE) to reach a version of its major, the Mac installs the newest major upgrade instead"},
	{QuirkWrongProductKey, "Q17", catalog.IOS, true, "iOS dmd (decompiled)",
		"scheduling a different update while one is in progress fails with a wrong-product-key error; off, the new one replaces it"},
}

// ErrUnknownQuirk is returned for a quirk name that does not exist.
var ErrUnknownQuirk = errors.New("update: unknown quirk")

// Quirks lists every quirk the simulator knows.
func Quirks() []Quirk { return slices.Clone(quirkTable) }

// LookupQuirk finds a quirk by name.
func LookupQuirk(name string) (Quirk, error) {
	if i := QuirkIndex(name); i >= 0 {
		return quirkTable[i], nil
	}
	return Quirk{}, fmt.Errorf("%w: %q", ErrUnknownQuirk, name)
}

// QuirkIndex is the index of a quirk in Quirks, or -1 for an unknown name.
func QuirkIndex(name string) int {
	return slices.IndexFunc(quirkTable, func(q Quirk) bool { return q.Name == name })
}

// QuirkAt returns the quirk at index i of Quirks: devices keep their quirks
// as a bit set indexed so.
func QuirkAt(i int) Quirk { return quirkTable[i] }
