// Package refmdm is the embedded reference stack: a real open-source MDM
// server running in-process on 127.0.0.1, so that mdmsim works with no setup
// and its own tests exercise real server code rather than a stand-in.
//
// The stack is NanoMDM (in-memory storage, Mdm-Signature or mutual-TLS device
// authentication verified against the stack's throwaway CA, its /v1 API
// behind an API key), a SCEP CA (micromdm/scep) with a static challenge, the
// enrollment profile that ties them together, a self-signed push certificate
// for a com.apple.mgmt.External.<uuid> topic, and the mock APNs (package
// mockapns) reached through NanoMDM's own nanopush client, so the pushes that
// wake simulated devices are sent by the server's real push code and every
// APNs failure can be injected on the way.
//
// KMFDDM runs beside NanoMDM (NanoHUB's ddmadapter answers the devices'
// DeclarativeManagement check-ins); its API is mounted under /ddm/v1 behind
// the same API key (user "kmfddm"), so declarations are set as a real
// deployment sets them.
//
// Enforcer is the reference legacy software-update enforcer: the flow an MDM
// server runs with ScheduleOSUpdateScan, AvailableOSUpdates,
// ScheduleOSUpdate and OSUpdateStatus, small enough to compare a server's
// own logic with.
package refmdm
