//go:build !linux

package pgtest

import "syscall"

// sysProcAttr runs a PostgreSQL program as cred (nil: as the current
// user); where the kernel cannot tie a child's life to its parent's, the
// test's cleanup stops the servers.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	if cred == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: cred}
}
