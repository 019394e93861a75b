package stock

import (
	"os"
	"syscall"
)

// sysProcAttr puts each server in its own process group, so a signal to the
// group reaches anything it spawns, and asks the kernel to kill it when the
// test process dies, so a test killed by a timeout or ^C leaves no orphan
// holding a port. (Pdeathsig follows the thread that forked; the Go runtime
// keeps its threads unless a goroutine exits while locked to one, which
// tests do not do.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func terminate(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

func kill(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return os.ErrProcessDone
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		return p.Signal(sig)
	}
	return nil
}
