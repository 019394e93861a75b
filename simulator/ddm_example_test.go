package simulator_test

import (
	"context"
	"fmt"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// The enforcement engine gives a configuration type its behaviour by
// registering a handler: it is called with every active configuration of
// the type each time that set (or the device's OS) changes, and returns the
// configurations it refuses, which the device reports invalid.
func ExampleDDMTypes_HandleConfiguration() {
	types := simulator.DefaultDDMTypes()
	types.HandleConfiguration(ddm.TypeSoftwareUpdateEnforcementSpecific, simulator.ConfigurationHandlerFunc(
		func(_ context.Context, d *simulator.Device, active []ddm.Declaration) map[string][]ddm.StatusReason {
			refused := map[string][]ddm.StatusReason{}
			for _, decl := range active {
				p, err := ddm.DecodePayload[ddm.SoftwareUpdateEnforcementSpecific](decl)
				if err != nil {
					refused[decl.Identifier] = []ddm.StatusReason{{Code: ddm.ReasonConfigurationCannotBeApplied, Description: err.Error()}}
					continue
				}
				_ = p // schedule the update to p.TargetOSVersion by p.Deadline(d.Identity().Location())
			}
			return refused
		}))
	// Its status items replace the built-in ones, which report a device
	// with nothing pending.
	types.HandleStatusItem(simulator.StatusItem{Name: "softwareupdate.install-state",
		Value: func(d *simulator.Device) any { return "none" }})

	handlers := simulator.DefaultHandlers()
	handlers.Handle(simulator.RequestTypeDeclarativeManagement, simulator.DeclarativeManagementHandler(types))
	env := simulator.NewEnv(simulator.WithHandlers(handlers))
	_ = env

	dt, _ := types.Declaration(ddm.TypeSoftwareUpdateEnforcementSpecific)
	fmt.Println(dt.Handler != nil)
	// Output: true
}
