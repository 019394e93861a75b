// Package nanomdm is the target of a NanoMDM server (and of KMFDDM for
// declarative management, or NanoHUB, which serves both) running anywhere:
// its HTTP APIs as the command and declaration channels, its webhook as
// what the server saw, and the push certificate uploaded through its API
// for the topic of the enrollment profile, so the server pushes to the
// world's mock APNs (through the CONNECT proxy it is started with).
//
// Client and DDMClient are the API clients on their own, with typed
// errors (*APIError; ErrUnauthorized for a wrong API key) and bounded
// reads of whatever a server answers.
package nanomdm
