//go:build unix

package dynamostoretest

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the watchdog and java in a group of their own, so a Ctrl-C meant for
// the parent reaches them only through the watchdog, and a stuck java can be killed as a group.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
