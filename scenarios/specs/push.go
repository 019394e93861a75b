package specs

import (
	"encoding/hex"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

var _ = Describe("push", func() {
	It("[protocol: APNs] the server pushes a device right after queueing a command, and the push alone brings its answer",
		labels(scenarios.LabelPush, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(301)
			s.Require(scenarios.CapCommands)
			requirePushes(s)
			devs := s.Devices(2, scenarios.DeviceSpec{})
			before := map[string]int{}
			for _, d := range devs {
				before[d.UDID()] = pushesTo(s, tokenOf(d))
			}
			id := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, udidsOf(devs...)...)
			for _, d := range devs {
				Expect(s.Eventually(time.Minute, time.Second, func() bool { return pushesTo(s, tokenOf(d)) > before[d.UDID()] })).To(BeTrue(),
					"%s: the mock APNs got no push for the device's token within a minute of the enqueue", d.UDID())
				Expect(awaitAnswer(s, d.UDID(), id, 5*time.Minute)).To(Equal(protocol.StatusAcknowledged),
					"%s answered %v: the push did not bring the command", d.UDID(), s.Transcript.RequestTypes(d.UDID()))
			}
		})

	It("[protocol: APNs] the server's push carries the PushMagic the device sent in TokenUpdate",
		labels(scenarios.LabelPush, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(302)
			s.Require(scenarios.CapCommands)
			requirePushes(s)
			dev := s.Device(scenarios.DeviceSpec{})
			token, magic, _ := dev.PushToken()
			queueCommand(s, "ProfileList", nil, dev.UDID())
			h := hex.EncodeToString(token)
			var payloads []string
			Expect(s.Eventually(time.Minute, time.Second, func() bool {
				payloads = payloads[:0]
				for _, p := range s.World.APNs.Pushes() {
					if p.Token == h {
						payloads = append(payloads, string(p.Payload))
					}
				}
				return len(payloads) > 0
			})).To(BeTrue(), "the mock APNs got no push for the device's token")
			for _, p := range payloads {
				var body map[string]any
				Expect(json.Unmarshal([]byte(p), &body)).To(Succeed(), "a push payload that is not JSON: %q", p)
				Expect(body).To(HaveKeyWithValue("mdm", magic), "the push payload %s does not carry the device's PushMagic", p)
			}
			Expect(s.World.APNs.Stats().Delivery[mockapns.DeliveryMagicMismatch]).To(BeZero(), "pushes the device ignored for their magic")
		})

	for _, reason := range []string{mockapns.ReasonUnregistered, mockapns.ReasonBadDeviceToken} {
		It("[protocol: APNs] a push answered "+reason+" for one device does not stop the server pushing the others",
			labels(scenarios.LabelPush, scenarios.CapCommands), func() {
				s := scenarios.NewSpec(303)
				s.Require(scenarios.CapCommands)
				requirePushes(s)
				devs := s.Devices(3, scenarios.DeviceSpec{})
				gone, rest := devs[0], devs[1:]
				Expect(s.World.APNs.FailToken(tokenOf(gone), reason)).To(Succeed())
				for round := range 2 {
					// The server may report the failed push; the others must
					// still get theirs.
					id := freshUUID()
					_ = s.Target.Commands().Enqueue(s.Ctx, udidsOf(devs...),
						scenarios.Command{UUID: id, RequestType: "DeviceInformation", Payload: map[string]any{"Queries": []string{"OSVersion"}}})
					for _, d := range rest {
						Expect(awaitAnswer(s, d.UDID(), id, 5*time.Minute)).To(Equal(protocol.StatusAcknowledged),
							"round %d: after APNs answered %s for %s, %s answered %v", round+1, reason, gone.UDID(), d.UDID(), s.Transcript.RequestTypes(d.UDID()))
					}
				}
				Expect(pushesTo(s, tokenOf(gone))).To(BeNumerically(">", 0), "the server never pushed the device APNs refuses")
			})
	}

	It("[protocol: APNs] a command whose push was lost is delivered at the device's next check-in",
		labels(scenarios.LabelPush, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(304)
			s.Require(scenarios.CapCommands)
			requirePushes(s)
			dev := s.Device(scenarios.DeviceSpec{})
			Expect(s.World.APNs.AddFault(mockapns.Drop("lost", 1).ForToken(tokenOf(dev)))).To(Succeed())
			lost := queueCommand(s, "ProfileList", nil, dev.UDID())
			s.Advance(time.Hour)
			Expect(statusesOf(answersTo(s, dev.UDID(), lost))).To(BeEmpty(), "the device answered although its push was dropped")
			Expect(s.World.APNs.Stats().Delivery[mockapns.DeliveryDropped]).To(BeNumerically(">", 0), "the mock APNs dropped no push")
			s.World.APNs.RemoveFault("lost")
			next := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, dev.UDID())
			Expect(awaitAnswer(s, dev.UDID(), next, 5*time.Minute)).To(Equal(protocol.StatusAcknowledged), "the device never answered the next command")
			Expect(statusesOf(answersTo(s, dev.UDID(), lost))).To(HaveExactElements(protocol.StatusAcknowledged),
				"the command whose push was lost was not delivered at the next check-in (the device answered %v)", s.Transcript.RequestTypes(dev.UDID()))
		})

	It("[protocol: APNs] a device whose push was dropped is pushed again by the server's update enforcement, and answers",
		labels(scenarios.LabelPush, scenarios.CapUpdatePolicy), func() {
			s := scenarios.NewSpec(305)
			s.Require(scenarios.CapUpdatePolicy)
			requirePushes(s)
			mac := s.Device(scenarios.DeviceSpec{Model: "Mac14,2", OSVersion: "15.7.1", Build: "24G231"})
			Expect(s.World.APNs.AddFault(mockapns.Drop("lost", 1).ForToken(tokenOf(mac)))).To(Succeed())
			enforce(s, scenarios.MethodLegacy, 2*24*time.Hour, mac.UDID())
			s.Advance(10 * time.Minute)
			Expect(s.Transcript.Commands(mac.UDID())).To(BeEmpty(), "the Mac answered although its pushes were dropped")
			dropped := pushesTo(s, tokenOf(mac))
			Expect(dropped).To(BeNumerically(">", 0), "the server never pushed the Mac for its update")
			s.World.APNs.RemoveFault("lost")
			// No admin nudge from here: only the server pushing again brings
			// the Mac back.
			Expect(s.Eventually(6*time.Hour, 10*time.Minute, func() bool { return len(s.Transcript.Commands(mac.UDID())) > 0 })).To(BeTrue(),
				"six hours after its push was dropped the Mac has answered nothing: the server never pushed again (%d pushes, %d of them before the drop ended)",
				pushesTo(s, tokenOf(mac)), dropped)
			Expect(pushesTo(s, tokenOf(mac))).To(BeNumerically(">", dropped), "the Mac answered without another push")
		})
})

// requirePushes skips a spec about pushes when the target's devices poll:
// a push is then not what brings them.
func requirePushes(s *scenarios.Spec) {
	GinkgoHelper()
	enr, err := s.Target.Enrollment(s.Ctx)
	Expect(err).NotTo(HaveOccurred(), "the target's enrollment")
	if enr.PollInterval > 0 {
		Skip("the target's devices poll: its pushes cannot reach the mock APNs")
	}
}

// tokenOf is an enrolled device's push token.
func tokenOf(d *simulator.Device) []byte {
	GinkgoHelper()
	token, _, ok := d.PushToken()
	Expect(ok).To(BeTrue(), "%s has no push token", d.UDID())
	return token
}
