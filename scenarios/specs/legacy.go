package specs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// The devices of the legacy specs: the OS versions and builds are the
// catalog's, as the reference enforcer's own tests use them.
var (
	// A Mac with a minor update to take (and a major upgrade it may not).
	legacyMac = scenarios.DeviceSpec{Model: "Mac14,2", OSVersion: "26.6.1", Build: "25G76"}
	// An iPhone whose user has a passcode.
	legacyPhone = scenarios.DeviceSpec{Model: "iPhone15,2", OSVersion: "26.6", Build: "23G71", User: update.UserProfile{Passcode: true}}
	// A Mac on 27, where the legacy update commands are gone (B4.10).
	legacyMac27 = scenarios.DeviceSpec{Model: "Mac14,2", OSVersion: "27.0", Build: "26A100"}
)

// legacyCommands are the legacy software-update commands.
var legacyCommands = []string{"ScheduleOSUpdate", "ScheduleOSUpdateScan", "AvailableOSUpdates", "OSUpdateStatus"}

const legacyDay = 24 * time.Hour

var _ = Describe("legacy update", func() {
	It("[B1.2] scans before AvailableOSUpdates on macOS", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(1)
		mac := s.Device(scenarios.DeviceSpec{Model: "Mac14,2", OSVersion: "15.7.1", Build: "24G231"})
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, mac.UDID())
		s.Advance(2 * time.Hour)
		types := s.Transcript.RequestTypes(mac.UDID())
		Expect(types).To(ContainElement("AvailableOSUpdates"), "the server never asked what the Mac may install")
		scan, avail := slices.Index(types, "ScheduleOSUpdateScan"), slices.Index(types, "AvailableOSUpdates")
		Expect(scan).To(BeNumerically(">=", 0), "the Mac answered %v: no ScheduleOSUpdateScan", types)
		Expect(scan).To(BeNumerically("<", avail), "the Mac answered %v: AvailableOSUpdates before the scan", types)
	})

	It("[B1.4] schedules a Mac's update with an InstallAction the Mac accepts for it", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(2)
		mac := s.Device(legacyMac)
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, mac.UDID())
		s.Advance(2 * legacyDay)
		allowsLater := map[string]bool{}
		for _, x := range legacyAnswers(s, mac.UDID(), "AvailableOSUpdates") {
			for _, it := range legacyEntries(x, "AvailableOSUpdates") {
				allowsLater[legacyStr(it, "ProductKey")] = it["AllowsInstallLater"] == true
			}
		}
		scheduled := legacyAnswers(s, mac.UDID(), "ScheduleOSUpdate")
		Expect(scheduled).NotTo(BeEmpty(), "the Mac was never sent ScheduleOSUpdate: %s", legacyStory(s, mac.UDID()))
		for _, x := range scheduled {
			for _, r := range legacyEntries(x, "UpdateResults") {
				key, action := legacyStr(r, "ProductKey"), legacyStr(r, "InstallAction")
				Expect(action).NotTo(Equal("Error"), "the Mac refused the ScheduleOSUpdate of %s: %v", key, r["ErrorChain"])
				if action == "InstallLater" {
					Expect(allowsLater[key]).To(BeTrue(), "the Mac took %s with InstallLater, which its AvailableOSUpdates did not allow", key)
				}
			}
		}
	})

	It("[B2.3] leaves the user of a Mac their deferrals for a minor update that allows InstallLater", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(3)
		d := legacyMac
		d.User = update.UserProfile{Response: update.UserDismisses, DismissLimit: 1}
		mac := s.Device(d)
		enforce(s, scenarios.MethodLegacy, 3*legacyDay, mac.UDID())
		s.Advance(legacyDay)
		scheduled := legacyAnswers(s, mac.UDID(), "ScheduleOSUpdate")
		Expect(scheduled).NotTo(BeEmpty(), "the Mac was never sent ScheduleOSUpdate: %s", legacyStory(s, mac.UDID()))
		first := legacyEntries(scheduled[0], "UpdateResults")
		Expect(first).NotTo(BeEmpty(), "the Mac's first ScheduleOSUpdate answer has no UpdateResults")
		Expect(legacyStr(first[0], "InstallAction")).To(Equal("InstallLater"),
			"the Mac took its minor update %s as %s: the user could not defer it, though AvailableOSUpdates said AllowsInstallLater",
			legacyStr(first[0], "ProductKey"), legacyStr(first[0], "InstallAction"))
		// MaxUserDeferrals only counts with InstallLater: the Mac reports
		// the deferrals it was given.
		var maxDeferrals any
		for _, x := range legacyAnswers(s, mac.UDID(), "OSUpdateStatus") {
			for _, st := range legacyEntries(x, "OSUpdateStatus") {
				if v, ok := st["MaxDeferrals"]; ok {
					maxDeferrals = v
				}
			}
		}
		Expect(maxDeferrals).NotTo(BeNil(), "no OSUpdateStatus answer of the Mac reports MaxDeferrals: the user was given no deferral (%s)", legacyStory(s, mac.UDID()))
	})

	It("[B1.8] updates an iPhone in two steps: Default downloads, a second ScheduleOSUpdate installs", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(4)
		phone := s.Device(legacyPhone)
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, phone.UDID())
		s.Advance(legacyDay)
		var actions []string
		for _, x := range legacyAnswers(s, phone.UDID(), "ScheduleOSUpdate") {
			for _, r := range legacyEntries(x, "UpdateResults") {
				actions = append(actions, legacyStr(r, "InstallAction")+" "+legacyStr(r, "Status"))
			}
		}
		Expect(actions).NotTo(BeEmpty(), "the iPhone was never sent ScheduleOSUpdate: %s", legacyStory(s, phone.UDID()))
		Expect(actions[0]).To(HavePrefix("DownloadOnly"), "the iPhone's first ScheduleOSUpdate answers were %v: it was told to install before it had downloaded", actions)
		Expect(actions).To(ContainElement(HavePrefix("InstallASAP")), "the iPhone answered %v: it downloaded but was never asked to install", actions)
		Expect(phone.UpdateHistory()).To(HaveLen(1), "the iPhone answered %v and installed %v", actions, phone.UpdateHistory())
	})

	It("[B1.6] polls OSUpdateStatus until the Mac runs the update, and confirms it with DeviceInformation", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(5)
		mac := s.Device(legacyMac)
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, mac.UDID())
		s.Advance(2 * legacyDay)
		hist := mac.UpdateHistory()
		Expect(hist).To(HaveLen(1), "the Mac installed %v: %s", hist, legacyStory(s, mac.UDID()))
		var scheduledAt, polledAt time.Time
		confirmed := false
		for _, x := range s.Transcript.Commands(mac.UDID()) {
			switch {
			case x.RequestType == "ScheduleOSUpdate" && scheduledAt.IsZero():
				scheduledAt = x.At
			case x.RequestType == "OSUpdateStatus" && !scheduledAt.IsZero():
				polledAt = x.At
			case x.RequestType == "DeviceInformation" && x.At.After(hist[0].InstalledAt):
				qr, _ := x.Result.Fields["QueryResponses"].(map[string]any)
				confirmed = confirmed || legacyStr(qr, "OSVersion") == hist[0].ToVersion
			}
		}
		Expect(polledAt).NotTo(BeZero(), "the Mac was never asked OSUpdateStatus after ScheduleOSUpdate: %s", legacyStory(s, mac.UDID()))
		Expect(confirmed).To(BeTrue(), "the Mac installed %s at %s but no DeviceInformation asked it what it runs afterwards: %s",
			hist[0].ToVersion, hist[0].InstalledAt.Format(time.RFC3339), legacyStory(s, mac.UDID()))
	})

	It("[B1.7] brings a cooperative Mac to the newest minor version it may install within the deadline", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(6)
		mac := s.Device(legacyMac)
		id := mac.Identity()
		installed := catalog.MustParseVersion(id.OSVersion)
		want, ok := s.World.Catalog.Latest(*id.Model, installed.Major, -1, s.Now())
		Expect(ok).To(BeTrue(), "the catalog has no macOS %d for %s", installed.Major, id.Model.Identifier)
		Expect(want.ProductVersion).NotTo(Equal(id.OSVersion), "the catalog has no newer macOS %d", installed.Major)
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, mac.UDID())
		s.Advance(2 * legacyDay)
		Expect(mac.Identity().OSVersion).To(Equal(want.ProductVersion), "the Mac runs %s, not the newest minor version %s: %s",
			mac.Identity().OSVersion, want.ProductVersion, legacyStory(s, mac.UDID()))
		Expect(mac.UpdateHistory()).To(HaveLen(1), "the Mac installed %v", mac.UpdateHistory())
		Expect(mac.UpdateState().Phase).To(Equal(simulator.PhaseNone), "the Mac still has an update under way: %+v", mac.UpdateState())
	})

	It("[B1.8] brings a cooperative iPhone to the newest version it may install within the deadline", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(7)
		phone := s.Device(legacyPhone)
		id := phone.Identity()
		avail := s.World.Catalog.Installable(*id.Model, catalog.MustParseVersion(id.OSVersion), id.BuildVersion, s.Now())
		Expect(avail).NotTo(BeEmpty(), "the catalog has nothing for %s on %s", id.Model.Identifier, id.OSVersion)
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, phone.UDID())
		s.Advance(2 * legacyDay)
		Expect(phone.Identity().OSVersion).To(Equal(avail[0].ProductVersion), "the iPhone runs %s, not %s: %s",
			phone.Identity().OSVersion, avail[0].ProductVersion, legacyStory(s, phone.UDID()))
	})

	It("[B1.9] does not give up on a locked iPhone's NotNow: the update comes once it is unlocked", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(8)
		d := legacyPhone
		d.Env = update.Environment{Locked: true}
		phone := s.Device(d)
		enforce(s, scenarios.MethodLegacy, 4*legacyDay, phone.UDID())
		s.Advance(legacyDay)
		Expect(phone.UpdateHistory()).To(BeEmpty(), "the iPhone installed while locked")
		notNow := 0
		for _, x := range s.Transcript.Commands(phone.UDID()) {
			if x.Status == protocol.StatusNotNow {
				notNow++
			}
		}
		Expect(notNow).To(BeNumerically(">", 0), "the locked iPhone never answered NotNow: %s", legacyStory(s, phone.UDID()))
		phone.SetLocked(false)
		s.Advance(2 * legacyDay)
		Expect(phone.UpdateHistory()).To(HaveLen(1), "the iPhone, unlocked a day into the enforcement, was not updated within the next two days: %s", legacyStory(s, phone.UDID()))
	})

	It("[B1.9] pushes again when a push was lost: the Mac still updates", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(9)
		mac := s.Device(legacyMac)
		Expect(s.World.APNs.AddFault(mockapns.Fault{Name: "lost", Type: mockapns.FaultDrop})).To(Succeed())
		enforce(s, scenarios.MethodLegacy, 3*legacyDay, mac.UDID())
		s.Advance(3 * time.Hour)
		s.World.APNs.RemoveFault("lost")
		s.Advance(2 * legacyDay)
		Expect(mac.UpdateHistory()).To(HaveLen(1), "APNs dropped every push for the first three hours and the Mac was never updated: %s", legacyStory(s, mac.UDID()))
	})

	It("[B2.3] does not resend ScheduleOSUpdate at every poll while a Mac's update waits on its user", append(labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), scenarios.LabelSlow), func() {
		s := scenarios.NewSpec(10)
		d := legacyMac
		d.User = update.UserProfile{Response: update.UserIgnores}
		mac := s.Device(d)
		enforce(s, scenarios.MethodLegacy, 4*legacyDay, mac.UDID())
		s.Advance(4 * legacyDay)
		legacyAtMostDaily(s, mac.UDID(), 4)
		Expect(s.Transcript.Count(mac.UDID(), "OSUpdateStatus")).To(BeNumerically(">", s.Transcript.Count(mac.UDID(), "ScheduleOSUpdate")),
			"the Mac was sent ScheduleOSUpdate as often as it was asked OSUpdateStatus: %s", legacyStory(s, mac.UDID()))
	})

	It("[B1.7] sends a cooperative Mac ScheduleOSUpdate once, then watches it", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(11)
		mac := s.Device(legacyMac)
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, mac.UDID())
		s.Advance(legacyDay)
		Expect(mac.UpdateHistory()).To(HaveLen(1), "the Mac was not updated in a day: %s", legacyStory(s, mac.UDID()))
		installed := mac.UpdateHistory()[0].InstalledAt
		before := 0
		for _, x := range legacyAnswers(s, mac.UDID(), "ScheduleOSUpdate") {
			if x.At.Before(installed) {
				before++
			}
		}
		Expect(before).To(Equal(1), "the Mac was sent ScheduleOSUpdate %d times before it installed at %s, where one and OSUpdateStatus polls do: %s",
			before, installed.Format(time.RFC3339), legacyStory(s, mac.UDID()))
	})

	It("[B1.1] does not hammer an unsupervised Mac with ScheduleOSUpdate", append(labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), scenarios.LabelSlow), func() {
		s := scenarios.NewSpec(12)
		d := legacyMac
		d.Unsupervised = true
		mac := s.Device(d)
		legacyNotHammered(s, mac, 7)
	})

	It("[B3.2] does not hammer an Apple-silicon Mac without a bootstrap token or volume owner", append(labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), scenarios.LabelSlow), func() {
		s := scenarios.NewSpec(13)
		d := legacyMac
		d.User = update.UserProfile{NoSecureToken: true}
		d.Env = update.Environment{NoBootstrapToken: true}
		mac := s.Device(d)
		legacyNotHammered(s, mac, 7)
	})

	It("[B1.5] does not hammer a full iPad that answers DownloadInsufficientSpace", append(labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), scenarios.LabelSlow), func() {
		s := scenarios.NewSpec(14)
		pad := s.Device(scenarios.DeviceSpec{Model: "iPad13,18", OSVersion: "26.6", Build: "23G71", FreeGB: 0.3})
		legacyNotHammered(s, pad, 7)
	})

	It("[B1.5] does not hammer a Mac on a low battery that answers InsufficientPower", append(labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), scenarios.LabelSlow), func() {
		s := scenarios.NewSpec(15)
		d := legacyMac
		d.Env = update.Environment{OnBattery: true}
		d.Battery = 0.1
		mac := s.Device(d)
		legacyNotHammered(s, mac, 7)
	})

	It("[B4.10] sends no legacy update command to a device on 27", append(labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), scenarios.LabelSlow), func() {
		s := scenarios.NewSpec(16)
		mac := s.Device(legacyMac27)
		enforce(s, scenarios.MethodLegacy, 7*legacyDay, mac.UDID())
		s.Advance(7 * legacyDay)
		var sent []string
		for _, x := range s.Transcript.Commands(mac.UDID()) {
			if slices.Contains(legacyCommands, x.RequestType) {
				sent = append(sent, fmt.Sprintf("%s %s", x.RequestType, x.Status))
			}
		}
		Expect(sent).To(BeEmpty(), "the Mac on 27 was sent %v: the legacy update commands are gone in 27, the server must use DDM or nothing", sent)
		Expect(mac.UpdateHistory()).To(BeEmpty())
	})

	It("[B2.3] sends MaxUserDeferrals only with InstallLater, and InstallLater only for an update that allows it", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(17)
		macs := s.Devices(2, legacyMac)
		phone := s.Device(legacyPhone)
		udids := []string{macs[0].UDID(), macs[1].UDID(), phone.UDID()}
		enforce(s, scenarios.MethodLegacy, 2*legacyDay, udids...)
		s.Advance(2 * legacyDay)
		scheduled := 0
		for _, id := range udids {
			allows := map[string]bool{}
			for _, x := range s.Transcript.Commands(id) {
				if x.RequestType == "AvailableOSUpdates" && x.Result != nil {
					items, _ := x.Result.Fields["AvailableOSUpdates"].([]any)
					for _, v := range items {
						it, _ := v.(map[string]any)
						key, _ := it["ProductKey"].(string)
						ok, _ := it["AllowsInstallLater"].(bool)
						allows[key] = ok
					}
				}
				if x.RequestType != "ScheduleOSUpdate" {
					continue
				}
				sent := x.Sent()
				Expect(sent).NotTo(BeNil(), "the server's ScheduleOSUpdate to %s does not decode", id)
				updates, _ := sent["Updates"].([]any)
				for _, u := range updates {
					item, _ := u.(map[string]any)
					action, _ := item["InstallAction"].(string)
					key, _ := item["ProductKey"].(string)
					scheduled++
					if _, has := item["MaxUserDeferrals"]; has {
						Expect(action).To(Equal("InstallLater"), "%s was sent MaxUserDeferrals with InstallAction %q", id, action)
					}
					if action == "InstallLater" {
						Expect(allows[key]).To(BeTrue(), "%s was sent InstallLater for %s, which its AvailableOSUpdates did not allow it for", id, key)
					}
				}
			}
		}
		Expect(scheduled).To(BeNumerically(">", 0), "no ScheduleOSUpdate was sent to the three devices")
	})
})

// legacyNotHammered enforces an update on a device that cannot take it and checks
// over days of virtual time that the server schedules it at most once a
// day, and never installs anything.
func legacyNotHammered(s *scenarios.Spec, dev *simulator.Device, days int) {
	GinkgoHelper()
	enforce(s, scenarios.MethodLegacy, time.Duration(days)*legacyDay, dev.UDID())
	s.Advance(time.Duration(days) * legacyDay)
	Expect(dev.UpdateHistory()).To(BeEmpty(), "the device installed %v", dev.UpdateHistory())
	legacyAtMostDaily(s, dev.UDID(), days)
}

// legacyAtMostDaily checks that a device answered ScheduleOSUpdate at most
// once a day (plus the first) over days, and never twice within an hour: a
// server that cannot move an update does not resend it at every poll.
func legacyAtMostDaily(s *scenarios.Spec, udid string, days int) {
	GinkgoHelper()
	n := s.Transcript.Count(udid, "ScheduleOSUpdate")
	Expect(n).To(BeNumerically("<=", days+1), "the device answered ScheduleOSUpdate %d times in %d days, more than once a day: %s", n, days, legacyStory(s, udid))
	var last time.Time
	for _, x := range legacyAnswers(s, udid, "ScheduleOSUpdate") {
		if !last.IsZero() {
			Expect(x.At.Sub(last)).To(BeNumerically(">=", time.Hour), "the device answered ScheduleOSUpdate at %s and again at %s: %s",
				last.Format("01-02 15:04"), x.At.Format("01-02 15:04"), legacyStory(s, udid))
		}
		last = x.At
	}
}

// legacyAnswers returns a device's answers to requestType, in order.
func legacyAnswers(s *scenarios.Spec, udid, requestType string) []scenarios.Exchange {
	var out []scenarios.Exchange
	for _, x := range s.Transcript.Commands(udid) {
		if x.RequestType == requestType && x.Result != nil {
			out = append(out, x)
		}
	}
	return out
}

// legacyEntries returns the dictionaries of an answer's array field key.
func legacyEntries(x scenarios.Exchange, key string) []map[string]any {
	if x.Result == nil {
		return nil
	}
	arr, _ := x.Result.Fields[key].([]any)
	var out []map[string]any
	for _, v := range arr {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// legacyStr is the string at key of m, or "".
func legacyStr(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// legacyStory is a device's commands in its own words, the last forty, for a
// failure message.
func legacyStory(s *scenarios.Spec, udid string) string {
	cmds := s.Transcript.Commands(udid)
	if len(cmds) == 0 {
		return "the device answered no command"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the device answered %d commands", len(cmds))
	if len(cmds) > 40 {
		b.WriteString(", the last forty")
		cmds = cmds[len(cmds)-40:]
	}
	b.WriteString(":")
	for _, x := range cmds {
		fmt.Fprintf(&b, "\n  %s %s %s", x.At.Format("01-02 15:04"), x.RequestType, x.Status)
	}
	return b.String()
}
