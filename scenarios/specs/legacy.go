package specs

import (
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/scenarios"
)

var _ = Describe("legacy update", func() {
	It("[B2.1] scans before AvailableOSUpdates on macOS", labels(scenarios.LabelLegacy, scenarios.CapUpdatePolicy), func() {
		s := scenarios.NewSpec(1)
		mac := s.Device(scenarios.DeviceSpec{Model: "Mac14,2", OSVersion: "15.7.1", Build: "24G231"})
		enforce(s, scenarios.MethodLegacy, 2*24*time.Hour, mac.UDID())
		s.Advance(2 * time.Hour)
		types := s.Transcript.RequestTypes(mac.UDID())
		Expect(types).To(ContainElement("AvailableOSUpdates"), "the server never asked what the Mac may install")
		scan, avail := slices.Index(types, "ScheduleOSUpdateScan"), slices.Index(types, "AvailableOSUpdates")
		Expect(scan).To(BeNumerically(">=", 0), "the Mac answered %v: no ScheduleOSUpdateScan", types)
		Expect(scan).To(BeNumerically("<", avail), "the Mac answered %v: AvailableOSUpdates before the scan", types)
	})
})
