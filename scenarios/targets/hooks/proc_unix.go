//go:build unix

package hooks

import (
	"os/exec"
	"syscall"
)

// killGroup makes the command a process group and its cancellation kill
// the group: a curl started by sh dies with it on timeout.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
