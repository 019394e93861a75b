package simulator

import (
	"context"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// availCache is what a Mac's last software-update scan found. macOS answers
// AvailableOSUpdates from it until a ScheduleOSUpdateScan (or a restart)
// refreshes it; iOS scans inline for every query.
type availCache struct {
	at   time.Time
	rels []catalog.Release
}

// installableLocked is what the catalog offers the device now, newest first.
func (d *Device) installableLocked() []catalog.Release {
	rels := d.env.catalog.Installable(*d.id.Model, d.installedVersion(), d.id.BuildVersion, d.env.clock.Now())
	applied := d.id.SupplementalBuildVersion
	if applied == "" || applied == d.id.BuildVersion {
		return rels
	}
	// A security response is applied: it is not offered again.
	out := rels[:0:0]
	for _, r := range rels {
		if !(r.SecurityImprovement && r.Build == applied) {
			out = append(out, r)
		}
	}
	return out
}

// startScanLocked runs a macOS software-update scan: now (Force) or when
// the system picks; the cache refreshes when it ends.
func (d *Device) startScanLocked(force bool) {
	t := d.timings()
	after := d.draw(t.ScanBackground)
	if force {
		after = d.draw(t.ScanForce)
	}
	more := d.sw.grow()
	if more.scan != nil {
		more.scan.Stop()
	}
	more.scanGen++
	gen := more.scanGen
	more.scan = d.after(after, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if more.scanGen != gen {
			return
		}
		more.scan = nil
		if d.sw.env.NoNetwork {
			return // the scan failed; the old list stays
		}
		d.sw.avail = &availCache{at: d.env.clock.Now(), rels: d.installableLocked()}
	})
}

// availableLocked is the list AvailableOSUpdates reports, before quirks.
func (d *Device) availableLocked() []catalog.Release {
	if !d.id.IsMac() {
		if d.sw.env.NoNetwork {
			return nil
		}
		rels := d.installableLocked()
		if len(rels) > 1 {
			rels = rels[:1] // iOS lists only the newest
		}
		return rels
	}
	now := d.env.clock.Now()
	if every := d.timings().DetectionInterval; d.sw.avail != nil && every > 0 && now.Sub(d.sw.avail.at) >= every {
		d.sw.avail = nil // the periodic check has run since
	}
	if d.sw.avail == nil {
		// No scan since boot: the background check at startup found these.
		d.sw.avail = &availCache{at: now, rels: d.installableLocked()}
	}
	return d.sw.avail.rels
}

// recommendedLocked is the update a device picks when ScheduleOSUpdate has
// no Updates: the newest within its major (or its security response), else
// the newest.
func (d *Device) recommendedLocked() (catalog.Release, bool) {
	rels := d.installableLocked()
	installed := d.installedVersion()
	for _, r := range rels {
		if !r.IsMajorFrom(installed) {
			return r, true
		}
	}
	if len(rels) > 0 {
		return rels[0], true
	}
	return catalog.Release{}, false
}

func handleAvailableOSUpdates(ctx context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	if res := d.updateCommandDenied(cmd.RequestType); res != nil {
		return res
	}
	d.mu.Lock()
	stuck := !d.id.IsMac() && d.sw.env.NoNetwork
	timeout := d.timings().IOSScanTimeout
	d.mu.Unlock()
	if stuck {
		// dmd scans inline and gives up after its timeout.
		// The session's unit of work is handed over while it waits, so
		// a discrete-event clock moves on to the timeout.
		if err := d.env.sessionWork.Sleep(ctx, d.env.clock, timeout); err != nil {
			return NotNowResult()
		}
		return ErrorResult(protocol.ErrorChainItem{ErrorCode: -1001, ErrorDomain: "NSURLErrorDomain",
			LocalizedDescription: "The request timed out.", USEnglishDescription: "The request timed out."})
	}
	var (
		items     []any
		errNone   bool
		mac       bool
		installed catalog.Version
	)
	d.withLock(func() {
		mac = d.id.IsMac()
		installed = d.installedVersion()
		rels := d.availableLocked()
		if d.ddmActiveLocked(ddm.TypeSoftwareUpdateEnforcementSpecific) {
			rels = d.withoutManagedLocked(rels) // available_managed.go
		}
		if mac {
			rels = d.filterAvailableLocked(rels, installed)
		}
		rels, deferred := d.deferralsLocked(rels)
		for _, r := range rels {
			it := d.availableItemLocked(r, installed)
			if until, ok := deferred[r.Build]; ok {
				it["DeferredUntil"] = until
			}
			items = append(items, it)
		}
		errNone = !mac && len(items) == 0 && d.quirk(update.QuirkAvailableErrorWhenNone)
	})
	if errNone {
		return ErrorResult(
			protocol.ErrorChainItem{ErrorCode: 2213, ErrorDomain: "DeviceManagement.error", LocalizedDescription: "No update available."},
			protocol.ErrorChainItem{ErrorCode: 3, ErrorDomain: "com.apple.softwareupdateservices.errors", LocalizedDescription: "No update available."},
		)
	}
	if items == nil {
		items = []any{}
	}
	return Acknowledged(map[string]any{"AvailableOSUpdates": items})
}

// filterAvailableLocked applies the macOS list quirks.
func (d *Device) filterAvailableLocked(rels []catalog.Release, installed catalog.Version) []catalog.Release {
	if d.quirk(update.QuirkAvailableEmpty) {
		return nil
	}
	minorOnly, latestMajor := d.quirk(update.QuirkAvailableMinorOnly), d.quirk(update.QuirkAvailableLatestMajor)
	if !minorOnly && !latestMajor {
		return rels
	}
	newestMajor := 0
	for _, r := range rels {
		if r.IsMajorFrom(installed) {
			newestMajor = max(newestMajor, r.Version().Major)
		}
	}
	var out []catalog.Release
	for _, r := range rels {
		if r.IsMajorFrom(installed) && (minorOnly || r.Version().Major != newestMajor) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// availableItemLocked is one AvailableOSUpdates entry, with the keys the
// device's platform and OS version report.
func (d *Device) availableItemLocked(r catalog.Release, installed catalog.Version) map[string]any {
	id := d.id
	mac := id.IsMac()
	major := r.IsMajorFrom(installed)
	m := map[string]any{
		"ProductKey":         r.ProductKey(installed, id.BuildVersion),
		"HumanReadableName":  r.HumanReadableName(*id.Model),
		"Version":            r.ProductVersion,
		"Build":              r.Build,
		"DownloadSize":       r.DownloadSize(*id.Model, installed),
		"IsCritical":         false,
		"RestartRequired":    true,
		"AllowsInstallLater": mac && !major && !r.SecurityImprovement,
	}
	if mac {
		m["HumanReadableNameLocale"] = "en"
		m["AppIdentifiersToClose"] = []any{}
		m["IsConfigDataUpdate"] = false
		m["IsFirmwareUpdate"] = false
		m["IsMajorOSUpdate"] = major
		if d.appleSiliconMac() {
			m["RequiresBootstrapToken"] = true
		}
	} else {
		m["ProductName"] = "iOS"
		m["InstallSize"] = r.InstallSize(*id.Model, installed)
	}
	if (mac && versionAtLeast(id.OSVersion, "13.1")) || (!mac && versionAtLeast(id.OSVersion, "16.2")) {
		m["IsSecurityResponse"] = r.SecurityImprovement
		if r.SecurityImprovement {
			m["SupplementalBuildVersion"] = r.Build
			m["SupplementalOSVersionExtra"] = r.ProductVersionExtra
		}
	}
	return m
}

// Error chains of the update commands. Where the field has seen a code it
// is used (DeviceManagement.error 2213, softwareupdateservices 3,
// SUMacControllerError); the others are the simulator's choice (U), in the
// domains real devices use, with mdmclient's messages.
type scheduleErrKind int

const (
	errNotFound scheduleErrKind = iota
	errMissingKey
	errDowngrade
	errUnsupportedAction
	errWrongProductKey
	errUnableToQueue
	errBadDeferrals
)

func scheduleError(mac bool, kind scheduleErrKind, arg string) protocol.ErrorChainItem {
	var msg string
	switch kind {
	case errMissingKey:
		msg = "Missing 'ProductKey' or 'ProductVersion'"
	case errDowngrade:
		msg = fmt.Sprintf("Downgrading OS to: %s not allowed", arg)
	case errUnsupportedAction:
		msg = fmt.Sprintf("Unsupported install action: %s", arg)
	case errWrongProductKey:
		msg = fmt.Sprintf("Wrong product key: update %s is already in progress", arg)
	case errBadDeferrals:
		msg = fmt.Sprintf("Invalid MaxUserDeferrals: %s", arg)
	default:
		msg = fmt.Sprintf("Unable to queue update: (Product: %s) ==> not found", arg)
	}
	if mac {
		return protocol.ErrorChainItem{ErrorCode: 12080 + int(kind), ErrorDomain: protocol.DomainMCMDM,
			LocalizedDescription: msg, USEnglishDescription: msg}
	}
	code := 2213
	if kind != errNotFound {
		code = 2220 + int(kind)
	}
	return protocol.ErrorChainItem{ErrorCode: code, ErrorDomain: "DeviceManagement.error", LocalizedDescription: msg, USEnglishDescription: msg}
}

// statusErrors describe the UpdateResults statuses that stop an update.
var statusErrors = map[string]struct {
	code int
	msg  string
}{
	"DownloadFailed":              {101, "The download failed."},
	"DownloadRequiresComputer":    {102, "This update requires a computer to download."},
	"DownloadInsufficientSpace":   {103, "There isn't enough storage to download the update."},
	"DownloadInsufficientPower":   {104, "There isn't enough power to download the update."},
	"DownloadInsufficientNetwork": {105, "The update server can't be reached."},
	"InstallInsufficientSpace":    {106, "There isn't enough storage to install the update."},
	"InstallInsufficientPower":    {107, "Connect to power to install the update."},
	"InstallPhoneCallInProgress":  {108, "The update can't install during a phone call."},
	"InstallFailed":               {109, "The update failed to install."},
}

func statusError(mac bool, status string) protocol.ErrorChainItem {
	e, ok := statusErrors[status]
	if !ok {
		e = statusErrors["InstallFailed"]
	}
	if mac {
		return protocol.ErrorChainItem{ErrorCode: 7100 + e.code, ErrorDomain: "SUMacControllerError", LocalizedDescription: e.msg, USEnglishDescription: e.msg}
	}
	return protocol.ErrorChainItem{ErrorCode: e.code, ErrorDomain: "com.apple.softwareupdateservices.errors", LocalizedDescription: e.msg, USEnglishDescription: e.msg}
}
