// Package fleet runs many simulated devices: it draws a population from one
// seed, enrolls it with bounded concurrency, routes pushes, and counts what
// the devices did.
package fleet
