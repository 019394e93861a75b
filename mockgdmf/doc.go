// Package mockgdmf is a mock of Apple's software lookup service
// (GET https://gdmf.apple.com/v2/pmv), serving a catalog.Catalog so an MDM
// server under test sees the releases a scenario wants it to see.
//
// The server has the shape of httptest.Server: NewServer (or
// NewUnstartedServer and Start), URL, Client, Certificate, Close. It speaks
// TLS with a throwaway ECDSA CA that issues a certificate for localhost,
// 127.0.0.1 and ::1 (WithHosts adds names); hand CACertPEM to the server
// under test, since real clients pin Apple's chain and must be pointed at
// the mock's CA instead.
//
// GET /v2/pmv answers exactly in Apple's shape — PublicAssetSets, AssetSets
// and PublicBackgroundSecurityImprovements, each a map of platform to
// entries with ProductVersion, Build, PostingDate, ExpirationDate,
// SupportedDevices (and ProductVersionExtra, PrerequisiteBuild for security
// improvements) — rendered from the catalog at the server's now (WithNow
// takes a virtual clock's Now), so timeline events on the catalog show up as
// the clock moves. Answers carry an ETag (a hash of the body) and honour
// If-None-Match with 304.
//
// Every request is recorded (Requests, Reset). Faults (SetFault,
// ClearFaults) are small values: an error status with an optional
// Retry-After, latency, a stale answer (the catalog as of an earlier time),
// a truncated JSON body; each may hit a fraction of requests (seeded, so a
// run repeats) or only the next few. The same controls are reachable over
// HTTP for tests in other processes:
//
//	GET    /_mock/faults    installed faults
//	POST   /_mock/faults    install a fault, or an array of them:
//	                        {"kind":"status","status":503,"retry_after":"120s"}
//	                        {"kind":"latency","latency":"2s","probability":0.5}
//	                        {"kind":"stale","stale_by":"72h"} or {"kind":"stale","as_of":"2026-08-01T00:00:00Z"}
//	                        {"kind":"malformed","count":1}
//	DELETE /_mock/faults    remove all faults
//	GET    /_mock/requests  recorded requests (control requests are not recorded)
//	DELETE /_mock/requests  forget them
//	POST   /_mock/releases  post a release on the catalog's timeline (Server.Post),
//	                        one that may not exist yet:
//	                        {"platform":"iOS","product_version":"27.0","build":"24A330",
//	                         "supported_devices":["iPhone15,2"],"at":"2026-09-03T00:00:00Z","public":true}
//
// The answer leaves out every asset past its ExpirationDate, as Apple's
// does, on the server's clock.
//
// A bad control request gets 400 and {"error": "..."}; nothing from the
// network can make the server panic.
//
// Run serves a standalone instance for `mdmsim gdmf serve`.
package mockgdmf
