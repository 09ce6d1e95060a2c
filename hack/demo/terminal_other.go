//go:build !unix

package main

import "syscall"

// takeTerminal does nothing where there are no process groups.
func takeTerminal() (giveBack func()) { return func() {} }

// ownProcessGroup leaves the child where it is.
func ownProcessGroup() *syscall.SysProcAttr { return nil }
