package jobs

import "github.com/mdmsim/mdmsim/scenarios/reference"

// explained are the reasons a device is left behind that the fleet itself
// explains: its user, its state, its platform or a quirk it was given.
// A server cannot be blamed for them; every other reason (a command that
// failed, a device that never reported, one that could not be reached or
// enrolled, a run stopped early) is a finding.
var explained = map[string]bool{
	reference.ReasonNotSupervised:        true,
	reference.ReasonScanFailed:           true, // the device could not reach Apple
	reference.ReasonCommandsUnsupported:  true,
	reference.ReasonNotNow:               true,
	reference.ReasonUserIgnoredDeferrals: true,
	reference.ReasonUserDeferring:        true,
	reference.ReasonNoBootstrapToken:     true,
	reference.ReasonAwaitingUser:         true,
	reference.ReasonInsufficientSpace:    true,
	reference.ReasonInsufficientPower:    true,
	reference.ReasonInsufficientNetwork:  true,
	reference.ReasonRequiresComputer:     true,
	reference.ReasonPhoneCall:            true,
	reference.ReasonUpdateFailed:         true,
	reference.ReasonStalled:              true,
	reference.ReasonDDMUnsupported:       true,
	reference.ReasonWaiting:              true,
	reference.ReasonDownloading:          true,
	reference.ReasonInstalling:           true,
}

// Unexplained returns, by reason, the devices of rep left behind for
// reasons the fleet does not explain. switchedOff devices were switched
// off on purpose (ddm-deadline's --off): as many unreachable devices are
// explained.
func Unexplained(rep reference.Report, switchedOff int) map[string]int {
	out := map[string]int{}
	for reason, n := range rep.Reasons {
		if explained[reason] {
			continue
		}
		if reason == reference.ReasonUnreachable {
			n -= min(n, switchedOff)
		}
		if n > 0 {
			out[reason] = n
		}
	}
	return out
}
