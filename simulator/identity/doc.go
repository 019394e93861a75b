// Package identity draws coherent identities for simulated Apple devices
// from the catalog: a model that exists, its board ID and names, an OS
// version and build that really shipped for it, serial numbers, UDIDs and
// IMEIs in Apple's formats, and a time zone. The same faker state gives the
// same identity, so a fleet seed reproduces a fleet.
package identity
