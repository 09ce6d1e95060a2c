//go:build !linux

package kubetest

import "syscall"

// sysProcAttr has nothing to add where the kernel cannot tie a child's life
// to its parent's: Stop must run (TestMain does it).
func sysProcAttr() *syscall.SysProcAttr { return nil }
