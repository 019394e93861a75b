package simulator_test

import (
	"slices"
	"testing"

	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// FuzzDDMSync: whatever a server answers one of the DDM endpoints with
// (tokens, declaration-items, a declaration body), the device answers its
// DeclarativeManagement command, never panics (a panic would come back as
// a result other than Acknowledged), and syncs normally once the server
// answers well again. The first input picks the endpoint.
func FuzzDDMSync(f *testing.F) {
	f.Add(uint8(0), []byte(`{"SyncTokens":{"DeclarationsToken":"t2","Timestamp":"2026-01-05T10:00:00Z"}}`))
	f.Add(uint8(1), itemsWith(`{"Identifier":"act","ServerToken":"a1"},{"Identifier":"fz","ServerToken":"f1"}`))
	f.Add(uint8(1), []byte(`{"Declarations":{"Activations":[],"Configurations":[],"Assets":[],"Management":[]},"DeclarationsToken":"x"}`))
	f.Add(uint8(2), []byte(`{"Type":"com.apple.configuration.softwareupdate.settings","Identifier":"fz","ServerToken":"f1","Payload":{"Notifications":false}}`))
	f.Add(uint8(2), []byte(`{"Type":"com.apple.activation.simple","Identifier":"fz","ServerToken":"f1","Payload":{"StandardConfigurations":["subs"],"Predicate":"@status(device.operating-system.family) == 'macOS'"}}`))
	f.Add(uint8(2), []byte(`{"Type":"com.apple.configuration.softwareupdate.enforcement.specific","Identifier":"fz","ServerToken":"f1","Payload":{"TargetOSVersion":"26.1","TargetLocalDateTime":"2026-02-01T09:00:00"}}`))
	endpoints := []string{"tokens", "declaration-items", "declaration/configuration/fz"}
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		endpoint := endpoints[int(pick)%len(endpoints)]
		srv := baseServer(t)
		d, _ := newDDMDevice(t, srv, macSequoia)
		srv.enqueueDM(false)
		connect(t, d)
		srv.take()
		good := stateSummary(d)

		srv.put(ddm.TypeSoftwareUpdateSettings, "fz", "f1", settings)
		srv.answer(endpoint, 200, body)
		srv.enqueueDM(false)
		connect(t, d)
		if log := srv.take(); len(log) == 0 || log[len(log)-1] != "result Acknowledged" {
			t.Fatalf("%s answered %q: the device's exchanges were %q", endpoint, body, log)
		}

		// The server mends its ways; the device catches up.
		srv.answer(endpoint, 0, nil)
		srv.remove("fz")
		srv.enqueueDM(false)
		connect(t, d)
		if have := stateSummary(d); !slices.Equal(have, good) {
			t.Fatalf("after %s answered %q and then well: state\n%q\nwant\n%q", endpoint, body, have, good)
		}
		if !d.DDMEnabled() {
			t.Fatal("DDM disabled")
		}
	})
}
