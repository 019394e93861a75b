//go:build !linux

package stock

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to add off Linux: there is no Pdeathsig, so a
// test killed outright may leave its servers running.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminate(p *os.Process) error {
	if p == nil {
		return os.ErrProcessDone
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return p.Kill()
	}
	return nil
}

func kill(p *os.Process) error {
	if p == nil {
		return os.ErrProcessDone
	}
	return p.Kill()
}
