//go:build !linux

package kubetest

import (
	"syscall"
	"time"
)

// sysProcAttr has nothing to add where the kernel cannot tie a child's life
// to its parent's: Stop must run (TestMain does it).
func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitStopped trusts that SIGSTOP took effect: there is no portable way to
// look.
func waitStopped(int, time.Duration) error { return nil }
