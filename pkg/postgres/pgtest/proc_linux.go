package pgtest

import "syscall"

// sysProcAttr runs a PostgreSQL program as cred (nil: as the current
// user), and makes the kernel stop it — an immediate shutdown — when the
// test binary that started it dies, so no server outlives its test run.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
