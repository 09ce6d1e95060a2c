//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeTerminal puts the demo in a process group of its own and makes that
// group the terminal's foreground group, so that Ctrl-C reaches the demo
// alone: not make, which started it and would otherwise die of the same
// SIGINT, and not usersync and usersapi, which the demo stops itself, in
// order. It returns the func that gives the terminal back; without a
// terminal it changes nothing.
func takeTerminal() (giveBack func()) {
	fd := int(os.Stdin.Fd())
	foreground, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || foreground != unix.Getpgrp() {
		// No terminal, or the demo runs in the background.
		return func() {}
	}
	if err := unix.Setpgid(0, 0); err != nil {
		return func() {}
	}
	// A process outside the foreground group that sets it gets SIGTTOU
	// (and stops) unless it ignores the signal.
	signal.Ignore(syscall.SIGTTOU)
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp()); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, foreground) }
}

// ownProcessGroup starts a child in a process group of its own, out of
// reach of the terminal's Ctrl-C.
func ownProcessGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
