package specs

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// fleetZones are where a fleet's devices live: both sides of UTC, and the
// three zones every DDM deadline spec covers.
var fleetZones = []string{"Europe/Paris", "Asia/Tokyo", "America/Los_Angeles", "America/New_York", "Europe/London", "Australia/Sydney"}

// drawFleet builds and enrolls n devices drawn from seed: mostly Macs on
// macOS 15 and iPhones on iOS 18, some too old or unsupervised for the
// enforcement declaration, a few with a full disk, users of every kind.
func drawFleet(s *scenarios.Spec, n int, seed uint64) []*simulator.Device {
	GinkgoHelper()
	rng := rand.New(rand.NewPCG(seed, 0xf1ee7))
	users := []update.UserProfile{
		{Response: update.UserIgnores},
		{Response: update.UserActs},
		{Response: update.UserTonight},
		{Response: update.UserDismisses, DismissLimit: 3},
		{Response: update.UserIgnores, Passcode: true},
		{Response: update.UserIgnores, DoNotDisturb: true},
	}
	out := make([]*simulator.Device, 0, n)
	for range n {
		var d scenarios.DeviceSpec
		switch r := rng.Float64(); {
		case r < 0.45:
			d = ddmMac
		case r < 0.88:
			d = ddmIPhone
		case r < 0.94:
			d = oldMac
		case r < 0.97:
			d = ddmMac
			d.Unsupervised = true
		default:
			d = scenarios.DeviceSpec{Model: "iPhone12,1", OSVersion: "16.7.10", Build: "20H350"}
		}
		d.TimeZone = fleetZones[rng.IntN(len(fleetZones))]
		d.User = users[rng.IntN(len(users))]
		if !strings.HasPrefix(d.Model, "Mac") {
			d.User.BlockingApps, d.User.DoNotDisturb = false, false
		}
		if rng.Float64() < 0.03 {
			d.FreeGB = 0.3
		}
		out = append(out, s.Device(d))
	}
	return out
}

// ddmCapable reports whether a device's OS and enrollment can take the
// enforcement declaration (macOS 14+ supervised, iOS 17+), and why not.
func ddmCapable(d *simulator.Device) (bool, string) {
	id := d.Identity()
	switch {
	case id.IsMac() && ddm.CompareVersions(id.OSVersion, "14.0") < 0:
		return false, "macOS " + id.OSVersion + " is below 14"
	case id.IsMac() && !id.IsSupervised:
		return false, "an unsupervised Mac"
	case !id.IsMac() && ddm.CompareVersions(id.OSVersion, "17.0") < 0:
		return false, "iOS " + id.OSVersion + " is below 17"
	}
	return true, ""
}

// whyBehind is the device's own account of why it did not update, or "".
func whyBehind(s *scenarios.Spec, d *simulator.Device) string {
	if ok, why := ddmCapable(d); !ok {
		return why
	}
	if !d.PoweredOn() {
		return "switched off"
	}
	st, _ := s.World.Observer.DDM(d.UDID())
	if st.InstallState == "failed" && st.FailureReason != "" {
		return "install-state failed: " + st.FailureReason
	}
	if x, ok := enforcementOf(d); ok && x.Valid == "invalid" {
		return fmt.Sprintf("declaration %s invalid: %v", x.Identifier, x.Reasons)
	}
	return ""
}

// metDeadline reports whether the device installed the target it holds
// by its local deadline + 1 h, and what it did instead.
func metDeadline(d *simulator.Device) (bool, string) {
	x, ok := enforcementOf(d)
	if !ok {
		return false, "holds no enforcement declaration"
	}
	p, err := ddm.DecodePayload[ddm.SoftwareUpdateEnforcementSpecific](x.Declaration)
	if err != nil {
		return false, "enforcement declaration unreadable"
	}
	deadline, err := p.Deadline(d.Identity().Location())
	if err != nil {
		return false, fmt.Sprintf("TargetLocalDateTime %q unreadable", p.TargetLocalDateTime)
	}
	for _, h := range d.UpdateHistory() {
		if ddm.CompareVersions(h.ToVersion, p.TargetOSVersion) >= 0 {
			if h.InstalledAt.After(deadline.Add(time.Hour)) {
				return false, fmt.Sprintf("installed %s at %s, after %s + 1 h", h.ToVersion, h.InstalledAt.In(d.Identity().Location()).Format(time.DateTime), p.TargetLocalDateTime)
			}
			return true, ""
		}
	}
	return false, "never installed " + p.TargetOSVersion
}

var _ = Describe("fleet", func() {
	It("[B4.4] a fleet of 300 devices in six time zones: at least 80% install by their local deadline + 1 h, and every other device shows why",
		labels(scenarios.LabelFleet, scenarios.CapUpdatePolicy), Label(scenarios.LabelSlow), func() {
			s := scenarios.NewSpec(201)
			devs := drawFleet(s, 300, 201)
			enforceDDM(s, 2*24*time.Hour, udidsOf(devs...)...)
			s.Advance(3 * 24 * time.Hour)
			met := 0
			var unexplained []string
			for _, d := range devs {
				ok, what := metDeadline(d)
				if ok {
					met++
					continue
				}
				if why := whyBehind(s, d); why == "" {
					unexplained = append(unexplained, fmt.Sprintf("%s %s %s in %s: %s, install-state %q",
						d.Identity().Model.Identifier, d.Identity().OSVersion, d.UDID(), d.Identity().TimeZone, what, lastInstallState(s, d)))
				}
			}
			GinkgoWriter.Printf("%d of %d devices met their deadline\n", met, len(devs))
			Expect(unexplained).To(BeEmpty(), "devices behind their deadline that report no reason (%d of %d)", len(unexplained), len(devs))
			Expect(float64(met)/float64(len(devs))).To(BeNumerically(">=", 0.8), "only %d of %d devices installed by their local deadline + 1 h", met, len(devs))
		})

	It("[B4.2] a fleet of 120 devices reports its softwareupdate status, and devices off at their deadline install within an hour of starting again",
		labels(scenarios.LabelFleet, scenarios.CapUpdatePolicy), Label(scenarios.LabelSlow), func() {
			s := scenarios.NewSpec(202)
			devs := drawFleet(s, 120, 202)
			enforceDDM(s, 2*24*time.Hour, udidsOf(devs...)...)
			s.Advance(24 * time.Hour)
			var capable, off []*simulator.Device
			for i, d := range devs {
				ok, _ := ddmCapable(d)
				if !ok || d.Identity().AvailableDeviceCapacity < 1 {
					continue
				}
				capable = append(capable, d)
				if i%10 == 0 && len(d.UpdateHistory()) == 0 {
					off = append(off, d)
					d.PowerOff()
				}
			}
			Expect(off).NotTo(BeEmpty(), "the fleet has no device left to switch off")
			var silent []string
			for _, d := range capable {
				if items := reportedItems(s, d.UDID(), "softwareupdate"); len(items) == 0 {
					silent = append(silent, fmt.Sprintf("%s %s (subscribed to %v)", d.Identity().Model.Identifier, d.UDID(), d.DDMSubscriptions()))
				}
			}
			Expect(silent).To(BeEmpty(), "devices holding the declaration for a day that never reported a softwareupdate status item")
			// Every deadline, in every zone, has passed while they were off.
			s.Advance(2 * 24 * time.Hour)
			back := s.Now()
			for _, d := range off {
				Expect(d.PowerOn(s.Ctx)).To(Succeed())
			}
			s.Advance(3 * time.Hour)
			for _, d := range off {
				h := d.UpdateHistory()
				Expect(h).NotTo(BeEmpty(), "%s in %s, off at its deadline, installed nothing in the 3 h after starting again: %+v",
					d.Identity().Model.Identifier, d.Identity().TimeZone, d.EnforcementState())
				Expect(h[0].InstalledAt.Sub(back)).To(BeNumerically("<=", time.Hour+30*time.Minute),
					"%s in %s, off at its deadline, installed %s %v after starting again", d.Identity().Model.Identifier, d.Identity().TimeZone,
					h[0].ToVersion, h[0].InstalledAt.Sub(back))
			}
		})
})

// lastInstallState is the device's last reported install-state.
func lastInstallState(s *scenarios.Spec, d *simulator.Device) string {
	st, _ := s.World.Observer.DDM(d.UDID())
	return st.InstallState
}
