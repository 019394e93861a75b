// Package schemacheck validates MDM messages against Apple's YAML schemas
// (github.com/apple/device-management), embedded here for the MDM commands
// and check-in messages.
//
// It plugs into any package's tests: a response, as a server receives it,
// must use only keys the schema knows, each supported on the device's OS and
// version, of the schema's type and within its rangelist, with every required
// key present. Real devices leave out some keys Apple marks required (an
// AvailableOSUpdates entry of a software update has no MetadataURL); a test
// names such known departures with AllowMissing rather than loosening the
// check for everything.
//
//	s, _ := schemacheck.For("OSUpdateStatus")
//	err := s.CheckResult(schemacheck.Target{OS: "macOS", Version: "15.6"}, body)
package schemacheck
