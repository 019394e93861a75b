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
// The stack's own calls go below the HTTP APIs: the push certificate is
// stored in NanoMDM's storage and Stack.Enqueue uses NanoMDM's enqueuer,
// the code its /v1/enqueue handler runs. The APIs stay mounted for
// everything outside the process, and the API clients live with the
// target that drives any NanoMDM/KMFDDM (scenarios/targets/nanomdm).
// What the server saw of the devices (enrollments, command results) is
// kept by an observer in NanoMDM's service chain (Results, WaitResults,
// Enrolled); what the devices did is observed on their own side.
package refmdm
