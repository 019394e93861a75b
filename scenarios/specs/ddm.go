package specs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// The devices the DDM specs use: able to take the enforcement declaration
// (macOS 14+ supervised, iOS 17+), each with a newer release in the
// catalog, and older ones that cannot.
var (
	ddmMac     = scenarios.DeviceSpec{Model: "Mac14,2", OSVersion: "15.7.1", Build: "24G231"}
	ddmIPhone  = scenarios.DeviceSpec{Model: "iPhone15,2", OSVersion: "18.6", Build: "22G86"}
	oldMac     = scenarios.DeviceSpec{Model: "Mac14,2", OSVersion: "13.7.8", Build: "22H730"}
	ddmIgnores = update.UserProfile{Response: update.UserIgnores}
)

// in returns d in a time zone, with a user.
func ddmIn(d scenarios.DeviceSpec, zone string, user update.UserProfile) scenarios.DeviceSpec {
	d.TimeZone, d.User = zone, user
	return d
}

// enforceDDM asks the target's update policy to enforce by declaration,
// then lets time run a minute at a time until every device has been sent
// something (an hour at most): the specs then start from the moment the
// server acted, whatever its pace, and a server outside the process has
// the time it needs on real or scaled time.
func enforceDDM(s *scenarios.Spec, lead time.Duration, udids ...string) {
	GinkgoHelper()
	before := map[string]int{}
	for _, id := range udids {
		before[id] = len(s.Transcript.Commands(id))
	}
	enforce(s, scenarios.MethodDDM, lead, udids...)
	s.Eventually(time.Hour, time.Minute, func() bool {
		for _, id := range udids {
			if len(s.Transcript.Commands(id)) <= before[id] {
				return false
			}
		}
		return true
	})
}

// enforcementOf returns the enforcement declaration a device holds.
func enforcementOf(d *simulator.Device) (simulator.DeclarationState, bool) {
	for _, x := range d.DDMDeclarations() {
		if x.Type == ddm.TypeSoftwareUpdateEnforcementSpecific {
			return x, true
		}
	}
	return simulator.DeclarationState{}, false
}

// mustEnforcement returns the enforcement declaration a device holds and
// its payload, and fails the spec when it holds none.
func mustEnforcement(d *simulator.Device) (simulator.DeclarationState, ddm.SoftwareUpdateEnforcementSpecific) {
	GinkgoHelper()
	x, ok := enforcementOf(d)
	Expect(ok).To(BeTrue(), "%s (%s %s) holds no %s declaration; it holds %v", d.UDID(), d.Identity().Model.Identifier,
		d.Identity().OSVersion, ddm.TypeSoftwareUpdateEnforcementSpecific, declTypes(d))
	p, err := ddm.DecodePayload[ddm.SoftwareUpdateEnforcementSpecific](x.Declaration)
	Expect(err).NotTo(HaveOccurred(), "the enforcement declaration %s does not decode: %s", x.Identifier, x.Raw)
	return x, p
}

func declTypes(d *simulator.Device) []string {
	var out []string
	for _, x := range d.DDMDeclarations() {
		out = append(out, fmt.Sprintf("%s %s (%s, active %v)", x.Type, x.Identifier, x.Valid, x.Active))
	}
	return out
}

// statusReports returns the StatusItems of every status report a device
// sent, in order.
func statusReports(s *scenarios.Spec, udid string) []map[string]any {
	var out []map[string]any
	for _, x := range s.Transcript.Of(udid) {
		if x.Kind != simulator.EventStatusReport || len(x.Data) == 0 {
			continue
		}
		var r struct{ StatusItems map[string]any }
		if json.Unmarshal(x.Data, &r) == nil && r.StatusItems != nil {
			out = append(out, r.StatusItems)
		}
	}
	return out
}

// item reads a dotted status item ("softwareupdate.install-state") from a
// report's StatusItems.
func statusItem(items map[string]any, name string) (any, bool) {
	var cur any = items
	for _, k := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// reportedItems lists the dotted status items a device ever reported under
// prefix ("softwareupdate").
func reportedItems(s *scenarios.Spec, udid, prefix string) []string {
	seen := map[string]bool{}
	for _, r := range statusReports(s, udid) {
		if m, ok := r[prefix].(map[string]any); ok {
			for k := range m {
				seen[prefix+"."+k] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// localDeadline is the declaration's deadline as the device reads it.
func localDeadline(d *simulator.Device, p ddm.SoftwareUpdateEnforcementSpecific) time.Time {
	GinkgoHelper()
	t, err := p.Deadline(d.Identity().Location())
	Expect(err).NotTo(HaveOccurred(), "TargetLocalDateTime %q is not a local date-time (%s)", p.TargetLocalDateTime, ddm.LocalDateTimeLayout)
	return t
}

// expectMetDeadline: the device installed the declared target (or newer)
// at or before its local deadline + 1 h.
func expectMetDeadline(d *simulator.Device, p ddm.SoftwareUpdateEnforcementSpecific) {
	GinkgoHelper()
	deadline := localDeadline(d, p)
	h := d.UpdateHistory()
	zone := d.Identity().TimeZone
	Expect(h).NotTo(BeEmpty(), "%s in %s installed nothing; its deadline was %s local (%s), it reports %+v",
		d.Identity().Model.Identifier, zone, p.TargetLocalDateTime, deadline, d.EnforcementState())
	var reached *simulator.UpdateRecord
	for i := range h {
		if ddm.CompareVersions(h[i].ToVersion, p.TargetOSVersion) >= 0 {
			reached = &h[i]
			break
		}
	}
	Expect(reached).NotTo(BeNil(), "%s in %s never reached %s: its installs %+v", d.Identity().Model.Identifier, zone, p.TargetOSVersion, h)
	Expect(reached.InstalledAt).NotTo(BeTemporally(">", deadline.Add(time.Hour)),
		"%s in %s installed %s at %s local, after its deadline %s + 1 h", d.Identity().Model.Identifier, zone,
		reached.ToVersion, reached.InstalledAt.In(d.Identity().Location()).Format(time.DateTime), p.TargetLocalDateTime)
}

// platformOf is the catalog platform of a device.
func platformOf(d *simulator.Device) catalog.Platform { return d.Identity().Model.Platform }

var _ = Describe("ddm update", func() {
	It("[B4.1] the enforcement declaration a device holds is schema-valid, active, and targets a newer release of its own platform",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(101)
			mac := s.Device(ddmMac)
			phone := s.Device(ddmIPhone)
			enforceDDM(s, 3*24*time.Hour, mac.UDID(), phone.UDID())
			s.Advance(2 * time.Hour)
			for _, d := range []*simulator.Device{mac, phone} {
				x, p := mustEnforcement(d)
				id := d.Identity()
				if h := d.UpdateHistory(); len(h) > 0 {
					id.OSVersion = h[0].FromVersion // what it ran when the declaration came
				}
				Expect(ddm.ValidateEnforcementSpecific(x.Declaration, id)).To(BeEmpty(),
					"%s %s: the enforcement declaration %s breaks Apple's schema: %s", id.Model.Identifier, id.OSVersion, x.Identifier, x.Raw)
				Expect(x.Valid).To(Equal("valid"), "%s %s reports the enforcement declaration %s %s: %+v", id.Model.Identifier, id.OSVersion, x.Identifier, x.Valid, x.Reasons)
				Expect(x.Active).To(BeTrue(), "%s %s holds the enforcement declaration %s inactive", id.Model.Identifier, id.OSVersion, x.Identifier)
				Expect(ddm.CompareVersions(p.TargetOSVersion, id.OSVersion)).To(BeNumerically(">", 0),
					"%s on %s was told to reach %s, not above what it runs", id.Model.Identifier, id.OSVersion, p.TargetOSVersion)
				var versions []string
				for _, r := range s.World.Catalog.ReleasesFor(*id.Model, s.Now()) {
					if r.Platform == platformOf(d) && !r.SecurityImprovement {
						versions = append(versions, r.ProductVersion)
					}
				}
				Expect(versions).To(ContainElement(p.TargetOSVersion), "%s (%s) was told to reach %s, which Apple never released for it",
					id.Model.Identifier, platformOf(d), p.TargetOSVersion)
			}
		})

	It("[B4.1] TargetLocalDateTime is a local date and time (yyyy-mm-ddThh:mm:ss, no zone, no Z)",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(102)
			mac := s.Device(ddmIn(ddmMac, "Europe/Paris", ddmIgnores))
			enforceDDM(s, 3*24*time.Hour, mac.UDID())
			s.Advance(2 * time.Hour)
			_, p := mustEnforcement(mac)
			v := p.TargetLocalDateTime
			Expect(v).NotTo(HaveSuffix("Z"), "the Mac was sent TargetLocalDateTime %q: a UTC time, not a local one", v)
			Expect(v).To(MatchRegexp(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`), "the Mac was sent TargetLocalDateTime %q, not yyyy-mm-ddThh:mm:ss", v)
			_, err := time.Parse(ddm.LocalDateTimeLayout, v)
			Expect(err).NotTo(HaveOccurred(), "the Mac cannot read TargetLocalDateTime %q", v)
		})

	It("[B4.4] the deadline is not already past, in any time zone, when the declaration arrives",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(103)
			var devs []*simulator.Device
			for _, z := range []string{"Europe/Paris", "Asia/Tokyo", "America/Los_Angeles"} {
				devs = append(devs, s.Device(ddmIn(ddmMac, z, ddmIgnores)), s.Device(ddmIn(ddmIPhone, z, ddmIgnores)))
			}
			sent := s.Now()
			udids := make([]string, len(devs))
			for i, d := range devs {
				udids[i] = d.UDID()
			}
			enforceDDM(s, 2*24*time.Hour, udids...)
			s.Advance(2 * time.Hour)
			for _, d := range devs {
				_, p := mustEnforcement(d)
				deadline := localDeadline(d, p)
				Expect(deadline).To(BeTemporally(">", sent), "%s in %s received TargetLocalDateTime %s: already past there when sent (%s local)",
					d.Identity().Model.Identifier, d.Identity().TimeZone, p.TargetLocalDateTime, sent.In(d.Identity().Location()).Format(time.DateTime))
				Expect(d.UpdateHistory()).To(BeEmpty(), "%s in %s was forced to install within two hours of a deadline two days away", d.Identity().Model.Identifier, d.Identity().TimeZone)
			}
		})

	It("[B4.1] the local deadline is the one the server was asked for, give or take the device's offset from UTC",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(104)
			paris := s.Device(ddmIn(ddmMac, "Europe/Paris", ddmIgnores))
			tokyo := s.Device(ddmIn(ddmIPhone, "Asia/Tokyo", ddmIgnores))
			lead := 2 * 24 * time.Hour
			asked := s.Now().Add(lead)
			enforceDDM(s, lead, paris.UDID(), tokyo.UDID())
			s.Advance(2 * time.Hour)
			for _, d := range []*simulator.Device{paris, tokyo} {
				_, p := mustEnforcement(d)
				deadline := localDeadline(d, p)
				// Local time spans UTC-12 to UTC+14: one date-time for every
				// zone lands within 14 hours of the instant asked for.
				Expect(deadline).To(BeTemporally("~", asked, 14*time.Hour), "%s in %s was given the deadline %s local; the server was asked for %s",
					d.Identity().Model.Identifier, d.Identity().TimeZone, p.TargetLocalDateTime, asked.In(d.Identity().Location()).Format(time.DateTime))
			}
		})

	It("[B4.3] the server subscribes to the softwareupdate status items through an active status-subscriptions configuration",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(105)
			mac := s.Device(ddmMac)
			phone := s.Device(ddmIPhone)
			enforceDDM(s, 3*24*time.Hour, mac.UDID(), phone.UDID())
			s.Advance(2 * time.Hour)
			for _, d := range []*simulator.Device{mac, phone} {
				subs := d.DDMSubscriptions()
				for _, want := range []string{"softwareupdate.install-state", "softwareupdate.pending-version", "softwareupdate.failure-reason"} {
					Expect(subs).To(ContainElement(want), "%s is subscribed to %v: not %s", d.Identity().Model.Identifier, subs, want)
				}
				active := false
				for _, x := range d.DDMDeclarations() {
					if x.Type == ddm.TypeStatusSubscriptions && x.Active && x.Valid == "valid" {
						active = true
					}
				}
				Expect(active).To(BeTrue(), "%s holds no active, valid status-subscriptions configuration: %v", d.Identity().Model.Identifier, declTypes(d))
			}
		})

	It("[B4.2] the device reports its softwareupdate status items while it downloads and prepares the target",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(106)
			mac := s.Device(ddmIn(ddmMac, "Europe/Paris", ddmIgnores))
			enforceDDM(s, 3*24*time.Hour, mac.UDID())
			s.Advance(6 * time.Hour)
			items := reportedItems(s, mac.UDID(), "softwareupdate")
			Expect(items).To(ContainElements("softwareupdate.install-state", "softwareupdate.pending-version"),
				"the Mac's status reports carried %v of the softwareupdate items", items)
			var states []string
			for _, r := range statusReports(s, mac.UDID()) {
				if v, ok := statusItem(r, "softwareupdate.install-state"); ok {
					states = append(states, fmt.Sprint(v))
				}
			}
			Expect(states).To(ContainElement(BeElementOf("downloading", "prepared")), "the Mac reported install-state %v: never downloading or prepared", states)
			_, p := mustEnforcement(mac)
			st, _ := s.World.Observer.DDM(mac.UDID())
			Expect(st.PendingVersion).To(HavePrefix(p.TargetOSVersion), "the Mac reports pending-version %q while enforcing %s", st.PendingVersion, p.TargetOSVersion)
		})

	It("[B4.3] after the install the device reports its new OS version and install-state none",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(107)
			phone := s.Device(ddmIn(ddmIPhone, "Asia/Tokyo", ddmIgnores))
			enforceDDM(s, 24*time.Hour, phone.UDID())
			s.Advance(2 * 24 * time.Hour)
			_, p := mustEnforcement(phone)
			Expect(phone.UpdateHistory()).NotTo(BeEmpty(), "the iPhone installed nothing: %+v", phone.EnforcementState())
			subs := phone.DDMSubscriptions()
			Expect(subs).To(ContainElement("device.operating-system.version"), "the iPhone is subscribed to %v: the server cannot read its OS version", subs)
			var versions []string
			for _, r := range statusReports(s, phone.UDID()) {
				if v, ok := statusItem(r, "device.operating-system.version"); ok {
					versions = append(versions, fmt.Sprint(v))
				}
			}
			Expect(versions).NotTo(BeEmpty(), "the iPhone never reported device.operating-system.version")
			last := versions[len(versions)-1]
			Expect(ddm.CompareVersions(last, p.TargetOSVersion)).To(BeNumerically(">=", 0), "the iPhone last reported OS %s, below its target %s", last, p.TargetOSVersion)
			st, _ := s.World.Observer.DDM(phone.UDID())
			Expect(st.InstallState).To(Equal("none"), "after installing %s the iPhone reports install-state %q", last, st.InstallState)
		})

	It("[B4.4] devices that can meet the deadline install by their local deadline + 1 h in Europe/Paris, Asia/Tokyo and America/Los_Angeles",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(108)
			var devs []*simulator.Device
			for _, z := range []string{"Europe/Paris", "Asia/Tokyo", "America/Los_Angeles"} {
				devs = append(devs, s.Device(ddmIn(ddmMac, z, ddmIgnores)),
					s.Device(ddmIn(ddmIPhone, z, update.UserProfile{Response: update.UserIgnores, Passcode: true})))
			}
			udids := make([]string, len(devs))
			for i, d := range devs {
				udids[i] = d.UDID()
			}
			enforceDDM(s, 2*24*time.Hour, udids...)
			s.Advance(3 * 24 * time.Hour)
			for _, d := range devs {
				_, p := mustEnforcement(d)
				expectMetDeadline(d, p)
			}
		})

	It("[B4.2] a device with a full disk reports why it cannot update, and does not install",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(109)
			full := ddmIPhone
			full.FreeGB = 0.3
			phone := s.Device(ddmIn(full, "Europe/Paris", ddmIgnores))
			enforceDDM(s, 24*time.Hour, phone.UDID())
			s.Advance(2 * 24 * time.Hour)
			Expect(phone.UpdateHistory()).To(BeEmpty(), "an iPhone with 0.3 GB free installed %+v", phone.UpdateHistory())
			var reasons []string
			for _, r := range statusReports(s, phone.UDID()) {
				if v, ok := statusItem(r, "softwareupdate.failure-reason.reason"); ok {
					reasons = append(reasons, fmt.Sprint(v))
				}
			}
			Expect(reasons).To(ContainElement(ContainSubstring("space")), "the full iPhone reported failure reasons %v to the server: none about space", reasons)
			st, _ := s.World.Observer.DDM(phone.UDID())
			Expect(st.InstallState).To(Equal("failed"), "the full iPhone last reported install-state %q", st.InstallState)
		})

	It("[B4.1] a Mac on macOS 13 is given no enforcement declaration, or is not sent one it reports invalid again and again",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(110)
			mac := s.Device(ddmIn(ddmMac, "Europe/Paris", ddmIgnores))
			old := s.Device(ddmIn(oldMac, "Europe/Paris", ddmIgnores))
			enforceDDM(s, 2*24*time.Hour, mac.UDID(), old.UDID())
			s.Advance(2 * 24 * time.Hour)
			mustEnforcement(mac) // the server does use DDM
			Expect(old.UpdateHistory()).To(BeEmpty(), "the Mac on macOS 13 installed %+v through a declaration it cannot take", old.UpdateHistory())
			if x, ok := enforcementOf(old); ok {
				Expect(x.Valid).NotTo(Equal("valid"), "the Mac on macOS 13 reports an enforcement declaration valid")
				n := s.Transcript.Count(old.UDID(), "DeclarativeManagement")
				Expect(n).To(BeNumerically("<=", 3), "the Mac on macOS 13 reported %s %s (%v) yet answered DeclarativeManagement %d times in two days",
					x.Identifier, x.Valid, x.Reasons, n)
			}
		})

	It("[B4.1] an unsupervised Mac and an iPhone on iOS 16 are not left churning on a declaration they cannot take",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(111)
			unsup := ddmMac
			unsup.Unsupervised = true
			mac := s.Device(ddmIn(unsup, "America/Los_Angeles", ddmIgnores))
			phone := s.Device(ddmIn(scenarios.DeviceSpec{Model: "iPhone12,1", OSVersion: "16.7.10", Build: "20H350"}, "Asia/Tokyo", ddmIgnores))
			enforceDDM(s, 2*24*time.Hour, mac.UDID(), phone.UDID())
			s.Advance(2 * 24 * time.Hour)
			for _, d := range []*simulator.Device{mac, phone} {
				if x, ok := enforcementOf(d); ok {
					Expect(x.Valid).NotTo(Equal("valid"), "%s reports an enforcement declaration it should not take valid", d.Identity().Model.Identifier)
					n := s.Transcript.Count(d.UDID(), "DeclarativeManagement")
					Expect(n).To(BeNumerically("<=", 3), "%s (%s, supervised %v) reported %s %s yet answered DeclarativeManagement %d times in two days",
						d.Identity().Model.Identifier, d.Identity().OSVersion, d.Identity().IsSupervised, x.Identifier, x.Valid, n)
				}
			}
		})

	It("[B4.9] the server enforcing by declaration sends no legacy update commands",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(112)
			mac := s.Device(ddmIn(ddmMac, "Europe/Paris", ddmIgnores))
			enforceDDM(s, 24*time.Hour, mac.UDID())
			s.Advance(2 * 24 * time.Hour)
			mustEnforcement(mac)
			types := s.Transcript.RequestTypes(mac.UDID())
			for _, legacy := range []string{"ScheduleOSUpdate", "ScheduleOSUpdateScan", "AvailableOSUpdates", "OSUpdateStatus"} {
				Expect(types).NotTo(ContainElement(legacy), "the Mac under an enforcement declaration was sent %s: %v", legacy, types)
			}
		})

	It("[B4.6] a release posted after the declaration does not leave the device behind: it reaches the declared target by its deadline",
		labels(scenarios.LabelDDM, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(113)
			mac := s.Device(ddmIn(ddmMac, "America/Los_Angeles", ddmIgnores))
			enforceDDM(s, 2*24*time.Hour, mac.UDID())
			s.Advance(2 * time.Hour)
			_, first := mustEnforcement(mac)
			// Apple posts a newer patch of the same major the next day.
			var base catalog.Release
			for _, r := range s.World.Catalog.ReleasesFor(*mac.Identity().Model, s.Now()) {
				if r.ProductVersion == first.TargetOSVersion && !r.SecurityImprovement {
					base = r
					break
				}
			}
			Expect(base.Build).NotTo(BeEmpty(), "the Mac's target %s is not in the catalog", first.TargetOSVersion)
			newer := base
			newer.ProductVersion = first.TargetOSVersion + ".9"
			if strings.Count(first.TargetOSVersion, ".") == 2 {
				newer.ProductVersion = first.TargetOSVersion[:strings.LastIndex(first.TargetOSVersion, ".")] + ".99"
			}
			newer.Build = base.Build[:len(base.Build)-1] + "9"
			newer.ExpirationDate = time.Time{}
			s.Advance(22 * time.Hour)
			s.World.Catalog.Post(newer, s.Now())
			s.Advance(2 * 24 * time.Hour)
			_, p := mustEnforcement(mac)
			expectMetDeadline(mac, p)
			Expect(ddm.CompareVersions(mac.Identity().OSVersion, first.TargetOSVersion)).To(BeNumerically(">=", 0),
				"the Mac runs %s after %s was posted; it was told to reach %s", mac.Identity().OSVersion, newer.ProductVersion, first.TargetOSVersion)
		})
})
