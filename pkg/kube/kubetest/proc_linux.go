package kubetest

import "syscall"

// sysProcAttr makes the kernel kill a control-plane process when the test
// binary that started it dies (a panic, go test's timeout), so no etcd or
// kube-apiserver outlives its test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
