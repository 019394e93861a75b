// Package acceptance runs the harness against the stock, unmodified
// open-source servers as separate processes (NanoMDM v0.9.0, KMFDDM v0.8.3,
// scepserver v2.3.0, built with go install into a cache folder by
// internal/stock), through the nanomdm target and through the hooks
// target's curl example: what a user pointing mdmsim at their own server
// does. It has tests only.
package acceptance
