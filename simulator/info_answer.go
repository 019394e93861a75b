package simulator

import (
	"github.com/mdmsim/mdmsim/simulator/appleschema"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// Which DeviceInformation queries a device answers. Apple's schema
// (information.device.yaml) lists, per query and per OS, the version that
// introduced it, the version that removed it, and the access right it
// needs; info_queries.go is that table, generated from the schema and
// checked against it by TestQueryTableFollowsSchema. A device answers a
// query only where the schema says its OS has it and the enrollment holds
// the right: an iPhone says nothing of HasBattery, a Mac nothing of
// TimeZone, whatever the server asks.

// osAvail is where one OS answers a query: from Introduced ("" = always,
// "n/a" = never) until Removed ("" = still there), with AccessRights bit
// right (0 = none needed).
type osAvail struct {
	from, until string
	right       int
}

// queryAvail is a query's availability on the platforms the simulator
// models (iPadOS is "iOS" in Apple's schema).
type queryAvail struct {
	iOS, macOS osAvail
}

// removedIn27 are the queries the OS 27 seeds remove with the legacy
// software-update commands (apple-protocol.md §1, CHANGES.md of Apple's
// schema for 27.0); the embedded 18.1 schema does not say so yet.
var removedIn27 = map[string]bool{"OSUpdateSettings": true, "SoftwareUpdateDeviceID": true, "SoftwareUpdateSettings": true}

// queryAnswered reports whether a device of identity id, enrolled with rights,
// answers query q at all, whatever value it holds.
func queryAnswered(q string, id *identity.Identity, rights int) bool {
	a, ok := deviceInfoQueries[q]
	if !ok {
		return false
	}
	o := a.iOS
	if id.IsMac() {
		o = a.macOS
	}
	if o.from == "n/a" || o.right != 0 && rights&o.right == 0 {
		return false
	}
	v := id.OSVersion
	if o.from != "" && appleschema.CompareVersions(v, o.from) < 0 {
		return false
	}
	if o.until != "" && o.until != "n/a" && appleschema.CompareVersions(v, o.until) >= 0 {
		return false
	}
	if removedIn27[q] && identity.Major(v) >= UpdateCommandsRemovedIn {
		return false
	}
	// "Requires Apple silicon on macOS" (ModelNumber's description).
	if q == "ModelNumber" && id.IsMac() && !id.Model.AppleSilicon {
		return false
	}
	return true
}
