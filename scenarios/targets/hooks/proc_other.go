//go:build !unix

package hooks

import "os/exec"

// killGroup leaves cancellation to exec: it kills sh alone.
func killGroup(*exec.Cmd) {}
