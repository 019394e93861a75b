// Package conformance is a Ginkgo suite file to copy: mdmsim's conformance
// specs and specs of one's own, run together against one's own target.
package conformance

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mdmsim/mdmsim/scenarios"
	_ "github.com/mdmsim/mdmsim/scenarios/specs" // mdmsim's specs
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
)

// TestConformance runs the suite: here only this file's spec (its label),
// unless CONFORMANCE_LABELS says otherwise, e.g. '!slow'.
func TestConformance(t *testing.T) {
	labels := os.Getenv("CONFORMANCE_LABELS")
	if labels == "" {
		labels = "my-server"
	}
	// Your server goes here; the embedded stack stands in for it.
	open := func(ctx context.Context, w *scenarios.World) (scenarios.Target, error) {
		return embedded.New(ctx, w, embedded.WithMintedIdentities())
	}
	scenarios.Run(t, open, scenarios.SuiteOptions{InProcess: true, LabelFilter: labels})
}

// A spec of your own: the world, the target and devices built to order.
var _ = Describe("my server", Label("my-server"), func() {
	It("answers DeviceInformation for an iPhone within a minute", func() {
		s := scenarios.NewSpec(1)
		phone := s.Device(scenarios.DeviceSpec{Model: "iPhone15,2"})
		cmd := scenarios.Command{UUID: "7B3E1C9A-0D5F-4C1E-9F0A-2B6D8E4C1A01", RequestType: "DeviceInformation",
			Payload: map[string]any{"Queries": []string{"OSVersion"}}}
		Expect(s.Target.Commands().Enqueue(s.Ctx, []string{phone.UDID()}, cmd)).To(Succeed())
		s.Advance(time.Minute)
		Expect(s.Transcript.RequestTypes(phone.UDID())).To(ContainElement("DeviceInformation"))
	})
})
