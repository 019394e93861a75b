package specs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

var _ = Describe("protocol", func() {
	It("[protocol: Authenticate, TokenUpdate] the server accepts a device's enrollment and the device then answers a command",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(101)
			s.Require(scenarios.CapCommands)
			devs := s.Devices(2, scenarios.DeviceSpec{})
			for _, dev := range devs {
				Expect(dev.Enrolled()).To(BeTrue(), "%s: Authenticate and TokenUpdate were not both accepted", dev.UDID())
			}
			id := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, udidsOf(devs...)...)
			for _, dev := range devs {
				Expect(awaitAnswer(s, dev.UDID(), id, time.Hour)).To(Equal(protocol.StatusAcknowledged),
					"%s answered %v: it never acknowledged DeviceInformation %s", dev.UDID(), s.Transcript.RequestTypes(dev.UDID()), id)
			}
		})

	It("[protocol: CheckOut] the server accepts CheckOut, and a command queued after it is never delivered, not even when the device enrolls again",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(102)
			s.Require(scenarios.CapCommands)
			dev := s.Device(scenarios.DeviceSpec{})
			first := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, dev.UDID())
			Expect(awaitAnswer(s, dev.UDID(), first, time.Hour)).To(Equal(protocol.StatusAcknowledged), "the device never answered before CheckOut")

			Expect(dev.Unenroll(s.Ctx)).To(Succeed(), "the server refused the device's CheckOut")
			// Queued for a device that checked out: the server may refuse
			// it or fail to push it; either way it must never arrive.
			stale := freshUUID()
			_ = s.Target.Commands().Enqueue(s.Ctx, []string{dev.UDID()}, scenarios.Command{UUID: stale, RequestType: "ProfileList"})
			s.Advance(2 * time.Hour)
			Expect(statusesOf(answersTo(s, dev.UDID(), stale))).To(BeEmpty(), "the checked-out device was sent %s", stale)

			expectFreshStart(s, dev, stale, "the command queued while it was checked out")
		})

	It("[protocol: CheckOut] a command queued before CheckOut and never fetched is not delivered after the device enrolls again",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(103)
			s.Require(scenarios.CapCommands)
			dev := s.Device(scenarios.DeviceSpec{})
			token, _, ok := dev.PushToken()
			Expect(ok).To(BeTrue(), "the enrolled device has no push token")
			// Out of reach: APNs keeps the push, the device never fetches.
			s.World.APNs.SetOnline(token, false)
			stale := freshUUID()
			_ = s.Target.Commands().Enqueue(s.Ctx, []string{dev.UDID()}, scenarios.Command{UUID: stale, RequestType: "ProfileList"})
			s.Advance(10 * time.Minute)
			Expect(statusesOf(answersTo(s, dev.UDID(), stale))).To(BeEmpty(), "the device was offline yet answered %s", stale)
			Expect(dev.Unenroll(s.Ctx)).To(Succeed(), "the server refused the device's CheckOut")

			expectFreshStart(s, dev, stale, "a command of its previous enrollment")
		})

	It("[protocol: NotNow] a command answered NotNow is sent again later, and acknowledged exactly once",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(104)
			s.Require(scenarios.CapCommands)
			// A locked iPhone with a passcode answers ScheduleOSUpdate NotNow.
			phone := s.Device(scenarios.DeviceSpec{Model: "iPhone15,2", User: update.UserProfile{Passcode: true}, Env: update.Environment{Locked: true}})
			id := queueCommand(s, "ScheduleOSUpdate", map[string]any{"Updates": []any{}}, phone.UDID())
			Expect(s.Eventually(time.Hour, time.Minute, func() bool { return len(answersTo(s, phone.UDID(), id)) > 0 })).To(BeTrue(),
				"the locked iPhone was never sent ScheduleOSUpdate (it answered %v)", s.Transcript.RequestTypes(phone.UDID()))
			Expect(statusesOf(answersTo(s, phone.UDID(), id))).To(HaveExactElements(protocol.StatusNotNow),
				"the locked iPhone's answers to ScheduleOSUpdate")

			phone.SetLocked(false)
			Expect(s.Target.Commands().Push(s.Ctx, []string{phone.UDID()})).To(Succeed(), "pushing the unlocked iPhone")
			Expect(s.Eventually(2*time.Hour, time.Minute, func() bool {
				return slices.Contains(statusesOf(answersTo(s, phone.UDID(), id)), protocol.StatusAcknowledged)
			})).To(BeTrue(), "the NotNow command was never sent again: the iPhone answered %v", statusesOf(answersTo(s, phone.UDID(), id)))
			// More pushes must not bring an acknowledged command back.
			Expect(s.Target.Commands().Push(s.Ctx, []string{phone.UDID()})).To(Succeed())
			s.Advance(time.Hour)
			Expect(statusesOf(answersTo(s, phone.UDID(), id))).To(HaveExactElements(protocol.StatusNotNow, protocol.StatusAcknowledged),
				"the iPhone's answers to ScheduleOSUpdate: NotNow once, then acknowledged exactly once")
		})

	It("[protocol: Error, CommandFormatError] a command answered Error or CommandFormatError is not sent again",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(105)
			s.Require(scenarios.CapCommands)
			dev := s.Device(scenarios.DeviceSpec{Model: "Mac14,2"})
			// Updates must be an array: the device cannot read this one.
			malformed := queueCommand(s, "ScheduleOSUpdate", map[string]any{"Updates": "not-an-array"}, dev.UDID())
			Expect(awaitAnswer(s, dev.UDID(), malformed, time.Hour)).To(Equal(protocol.StatusCommandFormatError),
				"the Mac's answer to a ScheduleOSUpdate whose Updates is a string")
			unknown := queueCommand(s, "MdmsimNoSuchCommand", nil, dev.UDID())
			Expect(awaitAnswer(s, dev.UDID(), unknown, time.Hour)).To(Equal(protocol.StatusError),
				"the Mac's answer to an unknown RequestType")
			for range 3 {
				Expect(s.Target.Commands().Push(s.Ctx, []string{dev.UDID()})).To(Succeed())
				s.Advance(time.Hour)
			}
			Expect(answersTo(s, dev.UDID(), malformed)).To(HaveLen(1), "the command answered CommandFormatError was sent again (the Mac answered %v)", s.Transcript.RequestTypes(dev.UDID()))
			Expect(answersTo(s, dev.UDID(), unknown)).To(HaveLen(1), "the command answered Error was sent again (the Mac answered %v)", s.Transcript.RequestTypes(dev.UDID()))
		})

	It("[protocol: unknown RequestType] a device answering Error 12021 is not given up on: the next command still arrives",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(106)
			s.Require(scenarios.CapCommands)
			dev := s.Device(scenarios.DeviceSpec{Platform: catalog.IOS})
			unknown := queueCommand(s, "MdmsimNoSuchCommand", map[string]any{"Whatever": true}, dev.UDID())
			Expect(awaitAnswer(s, dev.UDID(), unknown, time.Hour)).To(Equal(protocol.StatusError), "the device's answer to an unknown RequestType")
			x := answersTo(s, dev.UDID(), unknown)[0]
			Expect(x.Result).NotTo(BeNil())
			Expect(x.Result.ErrorChain).NotTo(BeEmpty(), "the device's Error carried no ErrorChain")
			Expect(x.Result.ErrorChain[0].ErrorCode).To(Equal(12021), "the device's error code for an unknown RequestType")
			next := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, dev.UDID())
			Expect(awaitAnswer(s, dev.UDID(), next, time.Hour)).To(Equal(protocol.StatusAcknowledged),
				"after Error 12021 the device answered %v: the next command never arrived", s.Transcript.RequestTypes(dev.UDID()))
		})

	It("[protocol: Idle] the server answers Idle with the next queued command, and with an empty 200 when nothing is queued",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(107)
			s.Require(scenarios.CapCommands)
			w := newWireDevice(s, "")
			Expect(w.authenticate()).To(Succeed(), "Authenticate of a device with an identity from the server's own CA")
			Expect(w.tokenUpdate()).To(Succeed(), "TokenUpdate of a device with an identity from the server's own CA")
			body, err := w.idle()
			Expect(err).NotTo(HaveOccurred(), "Idle with nothing queued")
			Expect(body).To(BeEmpty(), "the server answered an Idle with nothing queued with %q, not an empty 200", body)

			a := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, w.udid)
			b := queueCommand(s, "ProfileList", nil, w.udid)
			var got []string
			body, err = w.idle()
			for range 4 {
				Expect(err).NotTo(HaveOccurred(), "a session of the device (commands so far %v)", got)
				if len(body) == 0 {
					break
				}
				cmd, derr := protocol.DecodeCommand(body)
				Expect(derr).NotTo(HaveOccurred(), "the server sent a command the device cannot read: %q", body)
				got = append(got, cmd.CommandUUID)
				body, err = w.report(cmd.CommandUUID, protocol.StatusAcknowledged)
			}
			Expect(got).To(ConsistOf(a, b), "the commands the server sent in one session, each answered Acknowledged")
			Expect(body).To(BeEmpty(), "after the last command the server's answer was %q, not an empty 200", body)
			body, err = w.idle()
			Expect(err).NotTo(HaveOccurred())
			Expect(body).To(BeEmpty(), "an Idle after every command was acknowledged was answered %q, not an empty 200", body)
		})

	It("[protocol: command results] a result for a command the server never sent is refused or ignored, and the device's queue still works",
		labels(scenarios.LabelProtocol, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(108)
			s.Require(scenarios.CapCommands)
			w := newWireDevice(s, "")
			Expect(w.authenticate()).To(Succeed())
			Expect(w.tokenUpdate()).To(Succeed())
			for _, st := range []protocol.Status{protocol.StatusAcknowledged, protocol.StatusError, protocol.StatusNotNow} {
				body, err := w.report(freshUUID(), st)
				if err == nil {
					Expect(body).To(BeEmpty(), "a %s result for a command never sent was answered with %q", st, body)
				}
			}
			id := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, w.udid)
			body, err := w.idle()
			Expect(err).NotTo(HaveOccurred(), "the device's Idle after its results for unknown commands")
			Expect(body).NotTo(BeEmpty(), "after results for unknown commands the server sent nothing for a queued command")
			cmd, err := protocol.DecodeCommand(body)
			Expect(err).NotTo(HaveOccurred())
			Expect(cmd.CommandUUID).To(Equal(id), "the command the server sent")
			body, err = w.report(id, protocol.StatusAcknowledged)
			Expect(err).NotTo(HaveOccurred())
			Expect(body).To(BeEmpty())
		})
})

// udidsOf is the devices' UDIDs.
func udidsOf(devs ...*simulator.Device) []string {
	out := make([]string, len(devs))
	for i, d := range devs {
		out[i] = d.UDID()
	}
	return out
}

// freshUUID is a new command UUID (random: no verdict depends on it).
func freshUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// queueCommand queues a command through the target's command channel, as
// an admin would, and returns its UUID.
func queueCommand(s *scenarios.Spec, requestType string, payload map[string]any, udids ...string) string {
	GinkgoHelper()
	id := freshUUID()
	err := s.Target.Commands().Enqueue(s.Ctx, udids, scenarios.Command{UUID: id, RequestType: requestType, Payload: payload})
	Expect(err).NotTo(HaveOccurred(), "queueing %s for %v", requestType, udids)
	return id
}

// answersTo is what a device answered to one command, in order.
func answersTo(s *scenarios.Spec, udid, commandUUID string) []scenarios.Exchange {
	var out []scenarios.Exchange
	for _, x := range s.Transcript.Commands(udid) {
		if x.CommandUUID == commandUUID {
			out = append(out, x)
		}
	}
	return out
}

func statusesOf(xs []scenarios.Exchange) []protocol.Status {
	out := make([]protocol.Status, len(xs))
	for i, x := range xs {
		out[i] = x.Status
	}
	return out
}

// awaitAnswer lets time run until the device has answered the command
// (or limit has passed) and returns its first answer's status, "" if none.
func awaitAnswer(s *scenarios.Spec, udid, commandUUID string, limit time.Duration) protocol.Status {
	GinkgoHelper()
	s.Eventually(limit, time.Minute, func() bool { return len(answersTo(s, udid, commandUUID)) > 0 })
	if xs := answersTo(s, udid, commandUUID); len(xs) > 0 {
		return xs[0].Status
	}
	return ""
}

// wireDevice is a device the spec drives by hand over the wire: to send
// what a well-behaved device never would.
type wireDevice struct {
	s     *scenarios.Spec
	udid  string
	id    *protocol.Identity
	mode  protocol.AuthMode
	tr    *protocol.Transport
	token []byte
	// woken counts the pushes delivered to token.
	woken atomic.Int32
}

// newWireDevice is a wire device with a fresh UDID (or udid) and an
// identity the target's enrollment issues (its own minting, or SCEP).
func newWireDevice(s *scenarios.Spec, udid string) *wireDevice {
	GinkgoHelper()
	if udid == "" {
		udid = freshUUID()
	}
	w := &wireDevice{s: s, udid: udid, mode: protocol.MdmSignature, tr: wireTransport(s)}
	if !s.Profile().MDM.SignMessage {
		w.mode = protocol.MutualTLS
	}
	w.id = wireIdentity(s, udid)
	w.token = make([]byte, 32)
	_, _ = rand.Read(w.token)
	return w
}

// wireTransport trusts what a device trusts for the server: the profile's
// certificate payloads and the target's enrollment roots.
func wireTransport(s *scenarios.Spec) *protocol.Transport {
	GinkgoHelper()
	pool := x509.NewCertPool()
	for _, c := range s.Profile().Anchors() {
		pool.AddCert(c)
	}
	enr, err := s.Target.Enrollment(s.Ctx)
	Expect(err).NotTo(HaveOccurred(), "the target's enrollment")
	for _, c := range enr.Roots {
		pool.AddCert(c)
	}
	return protocol.NewTransport(protocol.WithRootCAs(pool), protocol.WithTimeout(5*time.Minute))
}

// wireIdentity is an identity for udid, issued as the target's enrollment
// issues them.
func wireIdentity(s *scenarios.Spec, udid string) *protocol.Identity {
	GinkgoHelper()
	enr, err := s.Target.Enrollment(s.Ctx)
	Expect(err).NotTo(HaveOccurred(), "the target's enrollment")
	if enr.Identities != nil {
		cred, err := enr.Identities(udid)
		Expect(err).NotTo(HaveOccurred(), "an identity from the target")
		id, err := cred.Identity()
		Expect(err).NotTo(HaveOccurred(), "the target's identity")
		return id
	}
	if s.Profile().SCEP == nil {
		Skip("the target's enrollment neither mints identities nor offers SCEP")
	}
	roots := append(append([]*x509.Certificate(nil), enr.Roots...), s.Profile().Anchors()...)
	id, err := protocol.SCEPEnroll(s.Ctx, scenarios.TrustingClient(roots), s.Profile().SCEP,
		protocol.SCEPDevice{UDID: udid, SerialNumber: "MDMSIMW" + udid[:5], ProductName: "iPhone15,2", DeviceName: "wire"})
	Expect(err).NotTo(HaveOccurred(), "an identity over SCEP")
	return id
}

// foreignIdentity is an identity for udid from a CA the server has never
// seen, otherwise like a device's.
func foreignIdentity(udid string) *protocol.Identity {
	GinkgoHelper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	// Certificates are checked against the wall clock (TLS, CMS).
	now := clock.Real().Now()
	ca, err := pki.NewCA("mdmsim foreign CA", caKey, now.Add(-time.Hour), now.Add(24*time.Hour))
	Expect(err).NotTo(HaveOccurred())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	cert, err := ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: udid, Organization: []string{"mdmsim devices"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, &key.PublicKey)
	Expect(err).NotTo(HaveOccurred())
	return &protocol.Identity{Certificate: cert, PrivateKey: key}
}

// session opens a session as the device's identity; with none (w.id nil)
// the requests prove nothing.
func (w *wireDevice) session() *protocol.Session {
	var cred *protocol.Credential
	if w.id != nil {
		var err error
		cred, err = protocol.NewCredential(w.id)
		Expect(err).NotTo(HaveOccurred())
	}
	return w.tr.Session(cred, w.mode)
}

func (w *wireDevice) checkin(m protocol.CheckinMessage) error {
	sess := w.session()
	defer sess.Close()
	_, err := sess.Checkin(w.s.Ctx, w.s.Profile().CheckInURL(), m)
	return err
}

func (w *wireDevice) authenticate() error {
	return w.checkin(&protocol.Authenticate{Enrollment: protocol.Enrollment{UDID: w.udid}, Topic: w.s.Profile().MDM.Topic,
		SerialNumber: "MDMSIMW" + w.udid[:5], ProductName: "iPhone15,2", OSVersion: "18.0", BuildVersion: "22A3354"})
}

// tokenUpdate registers the device's token with the mock APNs (counting
// the pushes it is woken by) and sends it to the server.
func (w *wireDevice) tokenUpdate() error {
	magic := freshUUID()
	w.s.World.APNs.RegisterDevice(w.token, w.s.Profile().MDM.Topic, magic, func() { w.woken.Add(1) })
	return w.checkin(&protocol.TokenUpdate{Enrollment: protocol.Enrollment{UDID: w.udid}, Topic: w.s.Profile().MDM.Topic,
		Token: w.token, PushMagic: magic})
}

func (w *wireDevice) idle() ([]byte, error) { return w.report("", protocol.StatusIdle) }

func (w *wireDevice) report(commandUUID string, st protocol.Status) ([]byte, error) {
	sess := w.session()
	defer sess.Close()
	return sess.Report(w.s.Ctx, w.s.Profile().MDM.ServerURL, &protocol.Result{UDID: w.udid, CommandUUID: commandUUID, Status: st})
}

// pushesTo is the pushes the mock APNs recorded for token.
func pushesTo(s *scenarios.Spec, token []byte) int {
	h := hex.EncodeToString(token)
	n := 0
	for _, p := range s.World.APNs.Pushes() {
		if p.Token == h {
			n++
		}
	}
	return n
}

// expectFreshStart enrolls a checked-out device again and checks that it
// gets a command queued after its return, and never stale, which what
// describes.
func expectFreshStart(s *scenarios.Spec, dev *simulator.Device, stale, what string) {
	GinkgoHelper()
	Expect(s.Enroll(dev)).To(Succeed(), "the device could not enroll again after CheckOut")
	fresh := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, dev.UDID())
	Expect(awaitAnswer(s, dev.UDID(), fresh, time.Hour)).To(Equal(protocol.StatusAcknowledged),
		"the enrolled-again device answered %v: not the command queued after its return", s.Transcript.RequestTypes(dev.UDID()))
	s.Advance(time.Hour)
	Expect(statusesOf(answersTo(s, dev.UDID(), stale))).To(BeEmpty(),
		"the device enrolled again and was sent %s (it answered %v)", what, s.Transcript.RequestTypes(dev.UDID()))
}
