package simulator

import (
	"context"
	"fmt"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// The four legacy software-update commands. Apple deprecated them in 26.0
// and removes them in 27: a device on 27 or later answers them as unknown
// request types (Error 12021).

// Request types of the legacy software-update commands.
const (
	RequestScheduleOSUpdate     = "ScheduleOSUpdate"
	RequestScheduleOSUpdateScan = "ScheduleOSUpdateScan"
	RequestAvailableOSUpdates   = "AvailableOSUpdates"
	RequestOSUpdateStatus       = "OSUpdateStatus"
)

// UpdateCommandsRemovedIn is the major OS version that no longer knows the
// legacy software-update commands.
const UpdateCommandsRemovedIn = 27

// MaxScheduleItems bounds the Updates array of a ScheduleOSUpdate: a longer
// one is answered CommandFormatError rather than with thousands of results.
const MaxScheduleItems = 100

// Install actions as Apple spells them.
const (
	ActionDefault             = "Default"
	ActionDownloadOnly        = "DownloadOnly"
	ActionInstallASAP         = "InstallASAP"
	ActionNotifyOnly          = "NotifyOnly"
	ActionInstallLater        = "InstallLater"
	ActionInstallForceRestart = "InstallForceRestart"
	ActionError               = "Error"
)

func registerUpdateHandlers(h *Handlers) {
	legacy := func(id identity.Identity) bool { return identity.Major(id.OSVersion) < UpdateCommandsRemovedIn }
	h.Handle(RequestScheduleOSUpdate, Handler{Handle: handleScheduleOSUpdate, Available: legacy})
	h.Handle(RequestOSUpdateStatus, Handler{Handle: handleOSUpdateStatus, Available: legacy})
	h.Handle(RequestAvailableOSUpdates, Handler{Handle: handleAvailableOSUpdates, Available: legacy})
	h.Handle(RequestScheduleOSUpdateScan, Handler{Handle: handleScheduleOSUpdateScan,
		Available: func(id identity.Identity) bool { return id.IsMac() && legacy(id) }})
}

// codeNotSupervised is the MCMDMErrorDomain code the simulator answers for
// a command that needs supervision on an unsupervised device. Apple does
// not document the code (U).
const codeNotSupervised = 12070

// updateCommandDenied checks the schema's requirements: supervision (except
// AvailableOSUpdates on macOS) and, on iOS, the AllowAppInstallation access
// right.
func (d *Device) updateCommandDenied(requestType string) *protocol.Result {
	d.mu.Lock()
	id := d.id
	rights := -1
	if d.enr != nil {
		rights = d.enr.accessRights
	}
	d.mu.Unlock()
	if !id.IsMac() && rights >= 0 && rights&AccessAppManagement == 0 {
		return ErrorResult(NotAuthorized(requestType))
	}
	if !id.IsSupervised && !(id.IsMac() && requestType == RequestAvailableOSUpdates) {
		msg := fmt.Sprintf("“%s” requires a supervised device.", requestType)
		return ErrorResult(protocol.ErrorChainItem{ErrorCode: codeNotSupervised, ErrorDomain: protocol.DomainMCMDM,
			LocalizedDescription: msg, USEnglishDescription: msg})
	}
	return nil
}

// scheduleItem is one entry of ScheduleOSUpdate's Updates. A key of the
// wrong type fails decoding, and the device answers CommandFormatError.
type scheduleItem struct {
	ProductKey       string `plist:"ProductKey"`
	ProductVersion   string `plist:"ProductVersion"`
	InstallAction    string `plist:"InstallAction"`
	MaxUserDeferrals *int   `plist:"MaxUserDeferrals"`
	Priority         string `plist:"Priority"`
}

func handleScheduleOSUpdate(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		Updates []scheduleItem `plist:"Updates"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	if len(p.Updates) > MaxScheduleItems {
		return FormatError(cmd.CommandUUID, &protocol.FieldError{Key: "Updates", Want: fmt.Sprintf("an array of at most %d updates", MaxScheduleItems)})
	}
	if res := d.updateCommandDenied(cmd.RequestType); res != nil {
		return res
	}
	var (
		results []any
		gap     int
		notNow  bool
	)
	d.withLock(func() {
		if !d.id.IsMac() && d.sw.user.Passcode && d.sw.env.Locked {
			// A locked iPhone cannot take it now, and does not keep it.
			notNow = true
			d.armUnlockLocked()
			return
		}
		if d.ddmActiveLocked(ddm.TypeSoftwareUpdateEnforcementSpecific) {
			// Declarative enforcement owns OS updates: the command is
			// ignored with an informational error per item.
			for _, it := range p.Updates {
				results = append(results, updateResult(requestedKeyOr(it.ProductKey, it.ProductVersion), ActionError, "Idle",
					declarationActiveError()))
			}
			return
		}
		items := p.Updates
		if items == nil {
			// "If this value is missing, the device applies the default
			// behavior": the update it would recommend, with Default.
			if rel, ok := d.recommendedLocked(); ok {
				items = []scheduleItem{{ProductKey: rel.ProductKey(d.installedVersion(), d.id.BuildVersion), InstallAction: ActionDefault}}
			}
		}
		started := false
		for _, it := range items {
			r, isGap := d.scheduleItemLocked(it, &started)
			if isGap {
				gap++
				continue
			}
			results = append(results, r)
		}
	})
	switch {
	case notNow:
		return NotNowResult()
	case gap > 0 && len(results) == 0 && d.QuirkOn(update.QuirkRebootGap):
		// The update restarted the device before it could answer; the
		// resent command is acknowledged without UpdateResults.
		return Acknowledged(nil)
	case !d.isMac() && d.QuirkOn(update.QuirkScheduleNoResults):
		return Acknowledged(nil)
	}
	if results == nil {
		results = []any{}
	}
	return Acknowledged(map[string]any{"UpdateResults": results})
}

// codeDeclarationActive is the informational MCMDMErrorDomain code a device
// answers ScheduleOSUpdate with while an enforcement declaration is active
// (U: Apple documents the behaviour, not the code).
const codeDeclarationActive = 12090

func declarationActiveError() protocol.ErrorChainItem {
	msg := "Software updates are managed by a declaration; the command is ignored."
	return protocol.ErrorChainItem{ErrorCode: codeDeclarationActive, ErrorDomain: protocol.DomainMCMDM,
		LocalizedDescription: msg, USEnglishDescription: msg}
}

func (d *Device) isMac() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id.IsMac()
}

// armUnlockLocked makes a locked device unlock on its own after
// Environment.UnlockAfter.
func (d *Device) armUnlockLocked() {
	after := d.sw.env.UnlockAfter
	if after <= 0 || (d.sw.more != nil && d.sw.more.unlock != nil) {
		return
	}
	more := d.sw.grow()
	more.unlock = d.after(after, func() {
		d.mu.Lock()
		more.unlock = nil
		was := d.sw.env.Locked
		d.sw.env.Locked = false
		d.mu.Unlock()
		if was {
			d.conditionsChanged()
		}
	})
}

// updateResult is one UpdateResults entry.
func updateResult(key, action, status string, chain ...protocol.ErrorChainItem) map[string]any {
	r := map[string]any{"ProductKey": key, "InstallAction": action, "Status": status}
	if len(chain) > 0 {
		items := make([]any, len(chain))
		for i, c := range chain {
			items[i] = errorChainMap(c)
		}
		r["ErrorChain"] = items
	}
	return r
}

func errorChainMap(c protocol.ErrorChainItem) map[string]any {
	m := map[string]any{"ErrorCode": c.ErrorCode, "ErrorDomain": c.ErrorDomain, "LocalizedDescription": c.LocalizedDescription}
	if c.USEnglishDescription != "" {
		m["USEnglishDescription"] = c.USEnglishDescription
	}
	return m
}

// scheduleItemLocked handles one requested update. isGap reports a request
// for the update whose restart just happened.
func (d *Device) scheduleItemLocked(it scheduleItem, started *bool) (res map[string]any, isGap bool) {
	requestedKey := it.ProductKey
	rel, key, errItem := d.resolveLocked(it)
	if errItem != nil {
		return errItem, false
	}
	if key == "" {
		// The reboot gap: the named update is the one just installed.
		if d.quirk(update.QuirkRebootGap) {
			return nil, true
		}
		mark := d.sw.installed()
		return updateResult(mark.key, mark.action, "Idle"), false
	}
	plan, errItem := d.planLocked(it, rel, key)
	if errItem != nil {
		return errItem, false
	}
	if j := d.sw.job; j != nil {
		if j.rel.Build == rel.Build && j.rel.SecurityImprovement == rel.SecurityImprovement {
			*started = true
			return d.rescheduleLocked(j, it, plan), false
		}
		switch {
		case *started:
			return updateResult(key, ActionError, "Idle", scheduleError(d.id.IsMac(), errUnableToQueue, key)), false
		case !d.id.IsMac() && d.quirk(update.QuirkWrongProductKey):
			return updateResult(requestedKeyOr(requestedKey, key), ActionError, "Idle", scheduleError(false, errWrongProductKey, j.key)), false
		case j.phase == PhaseCountdown || j.phase == PhaseInstalling || j.phase == PhaseRestarting:
			return updateResult(key, ActionError, "Installing", scheduleError(d.id.IsMac(), errUnableToQueue, key)), false
		}
		d.cancelJobLocked()
	}
	if f := d.takeFailedLocked(rel.Build); f != nil && !*started {
		// The last attempt at this update failed: this answer says so,
		// the next one starts it again.
		return updateResult(key, plan.reported, f.status, statusError(d.id.IsMac(), f.status)), false
	}
	if st := d.downloadBlockerLocked(rel); st != "" {
		return updateResult(key, plan.reported, st, statusError(d.id.IsMac(), st)), false
	}
	*started = true
	j := d.startJobLocked(rel, key, plan)
	if d.id.IsMac() && d.quirk(update.QuirkAutoDownloadConflict) && d.updateSettingsLocked().Download != SettingAlwaysOff {
		// Automatic download got there first: the update sits downloaded
		// and the install action is never run.
		j.stopTimers()
		j.phase, j.downloaded, j.stuck, j.waiting = PhasePrepared, true, true, "server"
		return updateResult(key, plan.reported, "Idle"), false
	}
	return updateResult(key, plan.reported, "Downloading"), false
}

func requestedKeyOr(requested, key string) string {
	if requested != "" {
		return requested
	}
	return key
}

// resolveLocked finds the release an item names. It returns an empty key
// for the update just installed (the reboot gap), or an error entry.
func (d *Device) resolveLocked(it scheduleItem) (catalog.Release, string, map[string]any) {
	mac := d.id.IsMac()
	installed := d.installedVersion()
	build := d.id.BuildVersion
	if d.id.SupplementalBuildVersion != "" {
		build = d.id.SupplementalBuildVersion
	}
	now := d.env.clock.Now()
	mark := d.sw.installed()
	switch {
	case it.ProductKey != "":
		if mark != nil && it.ProductKey == mark.key {
			return catalog.Release{}, "", nil
		}
		for _, r := range d.env.catalog.ReleasesFor(*d.id.Model, now) {
			if !d.offerableLocked(r, installed, build) {
				continue
			}
			if r.ProductKey(installed, d.id.BuildVersion) == it.ProductKey {
				return r, it.ProductKey, nil
			}
		}
		return catalog.Release{}, "", updateResult(it.ProductKey, ActionError, "Idle", scheduleError(mac, errNotFound, it.ProductKey))
	case it.ProductVersion != "" && versionAtLeast(d.id.OSVersion, productVersionSince(mac)):
		v, err := catalog.ParseVersion(it.ProductVersion)
		if err != nil {
			return catalog.Release{}, "", updateResult("", ActionError, "Idle", scheduleError(mac, errNotFound, it.ProductVersion))
		}
		if mark != nil && mark.version == it.ProductVersion {
			return catalog.Release{}, "", nil
		}
		if v.Compare(installed) < 0 {
			return catalog.Release{}, "", updateResult("", ActionError, "Idle", scheduleError(mac, errDowngrade, it.ProductVersion))
		}
		for _, r := range d.env.catalog.ReleasesFor(*d.id.Model, now) {
			if !r.SecurityImprovement && r.Version() == v && v.Compare(installed) > 0 {
				return r, r.ProductKey(installed, d.id.BuildVersion), nil
			}
		}
		return catalog.Release{}, "", updateResult("", ActionError, "Idle", scheduleError(mac, errNotFound, it.ProductVersion))
	}
	return catalog.Release{}, "", updateResult("", ActionError, "Idle", scheduleError(mac, errMissingKey, ""))
}

// offerableLocked: a release the device could install from where it is.
func (d *Device) offerableLocked(r catalog.Release, installed catalog.Version, build string) bool {
	if r.SecurityImprovement {
		return r.PrerequisiteBuild == d.id.BuildVersion && r.Build != build
	}
	return r.Version().Compare(installed) > 0
}

func productVersionSince(mac bool) string {
	if mac {
		return "12.0"
	}
	return "11.3"
}

// versionAtLeast compares OS versions; a malformed one counts as new.
func versionAtLeast(have, want string) bool {
	h, err := catalog.ParseVersion(have)
	if err != nil {
		return true
	}
	return h.Compare(catalog.MustParseVersion(want)) >= 0
}

// planLocked turns a requested action into what the device will do, per
// platform, OS version and kind of update, and the InstallAction it reports.
func (d *Device) planLocked(it scheduleItem, rel catalog.Release, key string) (installPlan, map[string]any) {
	os := d.id.OSVersion
	p := installPlan{maxDeferrals: -1, reason: "mdm"}
	if !d.id.IsMac() {
		switch it.InstallAction {
		case ActionDefault:
			// Two steps: Default downloads, and installs once downloaded
			// (rescheduleLocked).
			p.action, p.reported = actDownloadOnly, ActionDownloadOnly
		case ActionDownloadOnly:
			p.action, p.reported = actDownloadOnly, ActionDownloadOnly
		case ActionInstallASAP:
			p.action, p.reported = actInstallASAP, ActionInstallASAP
		default:
			return p, updateResult(key, ActionError, "Idle", scheduleError(false, errUnsupportedAction, it.InstallAction))
		}
		return p, nil
	}
	major := rel.IsMajorFrom(d.installedVersion())
	allowsLater := !major && !rel.SecurityImprovement
	switch a := it.InstallAction; {
	case a == ActionDownloadOnly && versionAtLeast(os, "11.0") && !major:
		p.action, p.reported = actDownloadOnly, ActionDownloadOnly
	case a == ActionNotifyOnly:
		p.action, p.reported = actNotifyOnly, ActionNotifyOnly
	case a == ActionInstallLater && allowsLater:
		p.action, p.reported = actInstallLater, ActionInstallLater
		if it.MaxUserDeferrals != nil && versionAtLeast(os, "12.0") {
			if *it.MaxUserDeferrals < 0 {
				return p, updateResult(key, ActionError, "Idle", scheduleError(true, errBadDeferrals, fmt.Sprint(*it.MaxUserDeferrals)))
			}
			p.maxDeferrals = min(*it.MaxUserDeferrals, 10000)
		}
	case a == ActionInstallForceRestart && versionAtLeast(os, "11.0") && !major:
		p.action, p.reported = actForceRestart, ActionInstallForceRestart
	default:
		// Default, InstallASAP, and whatever macOS does not support for this
		// update: "Ignoring unsupported InstallAction (will proceed as
		// 'Default')", and Default on macOS is InstallASAP. Major upgrades
		// take InstallASAP only.
		p.action, p.reported = actInstallASAP, ActionInstallASAP
	}
	if it.Priority == "High" && !major && versionAtLeast(os, "12.3") {
		p.highPriority = true
	}
	return p, nil
}

// rescheduleLocked handles a ScheduleOSUpdate for the update already in
// progress.
func (d *Device) rescheduleLocked(j *updateJob, it scheduleItem, p installPlan) map[string]any {
	if d.id.IsMac() && autoDownloaded(j) && d.quirk(update.QuirkAutoDownloadConflict) {
		// Quirk Q9: automatic download (AutomaticActions.Download
		// AlwaysOn) cached the update; the install action is skipped.
		j.stuck, j.waiting = true, "server"
	}
	if autoDownloaded(j) && !j.stuck {
		j.plan.reason = "mdm" // the server's command takes the download over
	}
	if j.stuck {
		return updateResult(j.key, p.reported, "Idle")
	}
	if !d.id.IsMac() {
		asap := it.InstallAction == ActionInstallASAP
		if it.InstallAction == ActionDownloadOnly || (!j.downloaded && !asap) {
			return updateResult(j.key, ActionDownloadOnly, d.resultStatusLocked(j))
		}
		j.plan.action, j.plan.reported = actInstallASAP, ActionInstallASAP
		switch {
		case !j.downloaded:
			j.requested, j.mode = true, modeCountdown
		case j.tonight && d.quirk(update.QuirkLaterReportsInstalling):
			// Scheduled for tonight: a resend installs now.
			j.requested, j.authorized = true, true
			d.beginInstallLocked(j)
		case j.tonight:
		case j.phase == PhasePrepared:
			d.requestInstallLocked(j, modeCountdown)
		}
		if asap && j.downloaded && d.sw.user.Passcode && d.quirk(update.QuirkASAPFailsButPrompts) {
			return updateResult(j.key, ActionError, "InstallFailed", statusError(false, "InstallFailed"))
		}
		return updateResult(j.key, ActionInstallASAP, d.resultStatusLocked(j))
	}
	if j.phase == PhaseCountdown || j.phase == PhaseInstalling || j.phase == PhaseRestarting {
		return updateResult(j.key, j.plan.reported, "Installing")
	}
	sameLater := p.action == actInstallLater && j.plan.action == actInstallLater
	if !sameLater {
		// A new action replaces the old; the counters of an InstallLater
		// already running are kept (they count from the first receipt).
		left := j.deferralsLeft
		if p.action == actInstallLater {
			left = p.maxDeferrals
		}
		j.plan.action, j.plan.reported, j.plan.maxDeferrals, j.plan.highPriority = p.action, p.reported, p.maxDeferrals, p.highPriority
		j.deferralsLeft = left
	}
	switch p.action {
	case actInstallASAP:
		d.requestInstallLocked(j, modeCountdown)
	case actForceRestart:
		d.requestInstallLocked(j, modeForce)
	case actInstallLater, actNotifyOnly:
		if !sameLater {
			j.requested = false
			d.proceedLocked(j)
		}
	}
	status := d.resultStatusLocked(j)
	if j.blocker != "" {
		return updateResult(j.key, j.plan.reported, j.blocker, statusError(true, j.blocker))
	}
	return updateResult(j.key, j.plan.reported, status)
}

// resultStatusLocked is the UpdateResults Status of a job.
func (d *Device) resultStatusLocked(j *updateJob) string {
	switch j.phase {
	case PhaseQueued, PhaseDownloading, PhasePreparing:
		return "Downloading"
	case PhaseCountdown, PhaseInstalling, PhaseRestarting:
		return "Installing"
	}
	if j.blocker != "" {
		return j.blocker
	}
	if installUnderway(j) {
		return "Installing"
	}
	return "Idle"
}

func handleOSUpdateStatus(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	if res := d.updateCommandDenied(cmd.RequestType); res != nil {
		return res
	}
	var items []any
	d.withLock(func() {
		j := d.sw.job
		if j == nil || d.ddmActiveLocked(ddm.TypeSoftwareUpdateEnforcementSpecific) {
			// Under an enforcement declaration only non-OS items show,
			// and the simulated devices have none.
			return
		}
		if d.id.IsMac() && d.quirk(update.QuirkSlowBackgroundDownload) && j.phase == PhaseDownloading && d.chance(0.5) {
			return // the background download does not show
		}
		items = append(items, d.statusItemLocked(j))
	})
	if items == nil {
		items = []any{}
	}
	return Acknowledged(map[string]any{"OSUpdateStatus": items})
}

// statusItemLocked is the OSUpdateStatus entry of a job.
func (d *Device) statusItemLocked(j *updateJob) map[string]any {
	m := map[string]any{
		"ProductKey":              j.key,
		"IsDownloaded":            j.downloaded,
		"DownloadPercentComplete": d.percentLocked(j),
		"Status":                  d.statusLocked(j),
	}
	if d.id.IsMac() && versionAtLeast(d.id.OSVersion, "12.3") && j.plan.action == actInstallLater {
		if j.plan.maxDeferrals >= 0 {
			m["MaxDeferrals"] = j.plan.maxDeferrals
			m["DeferralsRemaining"] = j.deferralsLeft
		}
		if !j.nextInstall.IsZero() {
			m["NextScheduledInstall"] = j.nextInstall.UTC()
		}
		if len(j.notifications) > 0 {
			past := make([]any, len(j.notifications))
			for i, t := range j.notifications {
				past[i] = t.UTC()
			}
			m["PastNotifications"] = past
		}
	}
	return m
}

func handleScheduleOSUpdateScan(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		Force bool `plist:"Force"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	if res := d.updateCommandDenied(cmd.RequestType); res != nil {
		return res
	}
	d.withLock(func() { d.startScanLocked(p.Force) })
	// The answer comes at once, before the scan finishes.
	return Acknowledged(map[string]any{"ScanInitiated": true})
}

// unmarshalPlist decodes server input; a decoder panic is an error.
func unmarshalPlist(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", protocol.ErrMalformed, r)
		}
	}()
	return plist.Unmarshal(data, v)
}
