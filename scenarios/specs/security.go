package specs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

var _ = Describe("security", func() {
	It("[protocol: Authenticate] an identity issued by a foreign CA is refused, and nothing is stored for its UDID",
		labels(scenarios.LabelSecurity, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(201)
			s.Require(scenarios.CapCommands)
			w := newWireDevice(s, "")
			w.id = foreignIdentity(w.udid)
			expectRefused(w.authenticate(), "the server accepted Authenticate from an identity its CA never issued")
			expectRefused(w.tokenUpdate(), "the server accepted TokenUpdate from an identity its CA never issued")
			expectNothingStored(s, w)
		})

	It("[protocol: mutual TLS] an identity issued by a foreign CA, presented as the TLS client certificate, is refused",
		labels(scenarios.LabelSecurity, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(202)
			s.Require(scenarios.CapCommands)
			w := newWireDevice(s, "")
			w.id, w.mode = foreignIdentity(w.udid), protocol.MutualTLS
			expectRefused(w.authenticate(), "the server accepted Authenticate over mutual TLS from an identity its CA never issued")
			expectRefused(w.tokenUpdate(), "the server accepted TokenUpdate over mutual TLS from an identity its CA never issued")
			expectNothingStored(s, w)
		})

	It("[protocol: Mdm-Signature] a check-in with no Mdm-Signature and no client certificate is refused",
		labels(scenarios.LabelSecurity, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(203)
			s.Require(scenarios.CapCommands)
			w := newWireDevice(s, "")
			// Mutual TLS without a certificate: the request carries no
			// Mdm-Signature header and no client certificate.
			w.id, w.mode = nil, protocol.MutualTLS
			expectRefused(w.authenticate(), "the server accepted an Authenticate that proves no identity")
			expectRefused(w.tokenUpdate(), "the server accepted a TokenUpdate that proves no identity")
			expectNothingStored(s, w)
		})

	It("[protocol: Mdm-Signature] a check-in whose Mdm-Signature was made by another key than its certificate's is refused",
		labels(scenarios.LabelSecurity, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(204)
			s.Require(scenarios.CapCommands)
			w := newWireDevice(s, "")
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			Expect(err).NotTo(HaveOccurred())
			// The server's own certificate for the UDID, signed with a key
			// that is not its.
			w.id, w.mode = &protocol.Identity{Certificate: w.id.Certificate, PrivateKey: other}, protocol.MdmSignature
			expectRefused(w.authenticate(), "the server accepted an Authenticate whose Mdm-Signature does not match its certificate")
			expectRefused(w.tokenUpdate(), "the server accepted a TokenUpdate whose Mdm-Signature does not match its certificate")
			expectNothingStored(s, w)
		})

	It("[protocol: Authenticate] a device's certificate presented for another UDID is refused, and the device it belongs to is unaffected",
		labels(scenarios.LabelSecurity, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(205)
			s.Require(scenarios.CapCommands)
			a := newWireDevice(s, "")
			Expect(a.authenticate()).To(Succeed(), "Authenticate of device A")
			Expect(a.tokenUpdate()).To(Succeed(), "TokenUpdate of device A")
			b := newWireDevice(s, "")
			b.id = a.id
			expectRefused(b.authenticate(), "the server accepted Authenticate as UDID B with device A's certificate")
			expectRefused(b.tokenUpdate(), "the server accepted TokenUpdate as UDID B with device A's certificate")
			expectNothingStored(s, b)

			id := queueCommand(s, "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}}, a.udid)
			body, err := a.idle()
			Expect(err).NotTo(HaveOccurred(), "device A's Idle")
			cmd, err := protocol.DecodeCommand(body)
			Expect(err).NotTo(HaveOccurred(), "device A was answered %q, not its command", body)
			Expect(cmd.CommandUUID).To(Equal(id), "the command device A was sent")
		})

	It("[protocol: TokenUpdate] a TokenUpdate for an enrollment that never authenticated is refused, and nothing is stored",
		labels(scenarios.LabelSecurity, scenarios.CapCommands), func() {
			s := scenarios.NewSpec(206)
			s.Require(scenarios.CapCommands)
			w := newWireDevice(s, "")
			expectRefused(w.tokenUpdate(), "the server accepted a TokenUpdate from a UDID that never sent Authenticate")
			expectNothingStored(s, w)
		})
})

// expectRefused checks the server refused a check-in: it answered an
// HTTP error or closed the connection, rather than the request failing
// before it left.
func expectRefused(err error, msg string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), msg)
	var httpErr *protocol.HTTPError
	var netErr *url.Error
	Expect(errors.As(err, &httpErr) || errors.As(err, &netErr)).To(BeTrue(), "the request failed before the server answered: %v", err)
}

// expectNothingStored checks a refused wire device left nothing behind: a
// command queued for its UDID brings no push to the token it sent and is
// never handed to it.
func expectNothingStored(s *scenarios.Spec, w *wireDevice) {
	GinkgoHelper()
	cmd := freshUUID()
	// The server may refuse to queue for an enrollment it does not know.
	_ = s.Target.Commands().Enqueue(s.Ctx, []string{w.udid}, scenarios.Command{UUID: cmd, RequestType: "ProfileList"})
	_ = s.Target.Commands().Push(s.Ctx, []string{w.udid})
	s.Advance(time.Hour)
	Expect(pushesTo(s, w.token)).To(BeZero(), "the mock APNs was asked to push the token of a refused TokenUpdate")
	Expect(w.woken.Load()).To(BeZero(), "the refused device was woken by a push")
	body, err := w.idle()
	if err == nil {
		Expect(body).To(BeEmpty(), "the refused device's Idle was answered with a command: %q", body)
	}
}
