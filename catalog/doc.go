// Package catalog is what exists in Apple's world: hardware models with their
// board IDs, OS releases with their builds and supported devices, and the
// facts a device derives from them (AvailableOSUpdates product keys, download
// sizes, names). It is the single source of truth for the simulator's device
// identities, its AvailableOSUpdates answers, DDM target resolution and the
// mock GDMF server; it imports only the standard library.
//
// # Releases
//
// A Catalog holds releases as GDMF (gdmf.apple.com/v2/pmv) publishes them.
// Default is built from three real answers merged into one history: one entry
// per (platform, build, device list), earliest PostingDate, latest
// ExpirationDate, public if any answer listed it publicly. Load reads any
// other answer (current shape, the pre-November-2025 shape with
// PublicRapidSecurityResponses, or SOFA's {"etag","data"} wrapper).
//
// Time is always an argument. A release is visible at t when its PostingDate
// (or the time it was Posted) is not after t and the timeline has not
// Expired its build; Apple's ExpirationDate is reported, never applied,
// because a simulation may well run after it. The built-in dates run from
// 2024-11 to 2026-08: start a scenario's clock at or after
// LatestPostingDate to see the whole snapshot.
//
// # Devices
//
// Models lists the population a fleet draws from. ShippedBuilds gives the
// OS builds a model ever received, so a simulated device starts on a real
// version and build; Installable gives what its AvailableOSUpdates lists;
// Latest resolves a DDM TargetOSVersion; FindBuild a TargetBuildVersion.
//
// Apple lists many versions twice, with a second "6xxx"/"8xxx"/"9xxx" build
// for the same devices (e.g. 23G83 and 23G6083); the meaning is not
// documented. ReleasesFor returns both; ShippedBuilds, Installable and
// Latest prefer the lowest build.
package catalog
