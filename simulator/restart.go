package simulator

import (
	"context"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// RestartDevice (device.restart.yaml): "The device will restart
// immediately." The device acknowledges, the answer goes out and its
// session ends; it is unreachable while it boots (pushes are lost, as to a
// device that is off), then opens a session of its own, Idle first, on a
// fresh connection, as a device does when it comes back up. An iPhone or
// iPad with a passcode does not rejoin Wi-Fi until its user unlocks it
// (Apple's Restart Device page): it comes back once the user has. On macOS
// 11.4 and later NotifyUser only asks the user to restart; the user does,
// or dismisses it, as their UserProfile says, and nothing else follows
// (no reminder). RebuildKernelCache makes an Apple-silicon Mac that allows
// its bootstrap token for authentication ask the server for it first.

// Boot times: how long a device is unreachable after RestartDevice. Apple
// documents none; these are the simulator's (docs/fidelity.md).
var (
	rebootMac = update.Range{Min: 45 * time.Second, Max: 2 * time.Minute}
	rebootIOS = update.Range{Min: 30 * time.Second, Max: 90 * time.Second}
)

// NotifyUser is a RestartDevice key from macOS 11.4 (device.restart.yaml).
const notifyUserSince = "11.4"

func handleRestartDevice(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		NotifyUser         bool     `plist:"NotifyUser"`
		RebuildKernelCache bool     `plist:"RebuildKernelCache"`
		KextPaths          []string `plist:"KextPaths"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	id := d.Identity()
	if !id.IsMac() && !id.IsSupervised {
		// supervised: true on iOS (device.restart.yaml).
		msg := fmt.Sprintf("“%s” requires a supervised device.", cmd.RequestType)
		return ErrorResult(protocol.ErrorChainItem{ErrorCode: codeNotSupervised, ErrorDomain: protocol.DomainMCMDM,
			LocalizedDescription: msg, USEnglishDescription: msg})
	}
	mac := id.IsMac()
	if mac && p.NotifyUser && versionAtLeast(id.OSVersion, notifyUserSince) {
		d.withLock(d.notifyRestartLocked)
		return nil
	}
	if mac && p.RebuildKernelCache && id.Model.AppleSilicon && id.IsSupervised {
		// BootstrapTokenAllowedForAuthentication is "allowed" on a
		// supervised Apple-silicon Mac (SecurityInfo).
		d.fetchBootstrapToken()
	}
	d.withLock(d.restartLocked)
	return nil
}

// notifyRestartLocked shows the restart notification: a user who acts
// restarts after their response time; one who dismisses or ignores it, or
// never sees it (Do Not Disturb), leaves the Mac running.
func (d *Device) notifyRestartLocked() {
	u := d.sw.user
	if u.DoNotDisturb || u.Response != update.UserActs {
		return
	}
	d.after(d.responseDelay(), func() { d.withLock(d.restartLocked) })
}

// restartLocked restarts the device now: unreachable for its boot time,
// then back, polling the server.
func (d *Device) restartLocked() {
	if d.unreachableLocked() {
		return // already off or restarting
	}
	d.restarts++
	d.down = true
	boot := rebootIOS
	if d.id.IsMac() {
		boot = rebootMac
	}
	after := d.draw(boot)
	if !d.id.IsMac() && d.sw.user.Passcode {
		// Back on the network once the user has unlocked it.
		after += d.responseDelay()
	}
	d.after(after, d.restartDone)
}

// restartDone: the device is up again. What a restart resets is reset (a
// Mac's software-update scan runs again) and it polls the server.
func (d *Device) restartDone() {
	d.mu.Lock()
	if !d.down || d.sw.job != nil && d.sw.job.phase == PhaseRestarting {
		d.mu.Unlock()
		return // an update's restart owns the device
	}
	d.down = false
	d.sw.avail = nil
	d.mu.Unlock()
	d.pollServer()
}
