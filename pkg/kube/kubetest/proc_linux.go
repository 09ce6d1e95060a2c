package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// sysProcAttr makes the kernel kill a control-plane process when the test
// binary that started it dies (a panic, go test's timeout), so no etcd or
// kube-apiserver outlives its test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits until every thread of process pid is stopped (state T
// in /proc): SIGSTOP is delivered asynchronously, and on a loaded machine
// a thread may still answer a request for a few milliseconds after kill
// returned.
func waitStopped(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil {
			return err
		}
		stopped := len(stats) > 0
		for _, f := range stats {
			data, err := os.ReadFile(f)
			if err != nil {
				continue // the thread ended
			}
			// "pid (comm) S …": the state follows the last ')'.
			if i := bytes.LastIndexByte(data, ')'); i < 0 || i+2 >= len(data) || data[i+2] != 'T' {
				stopped = false
				break
			}
		}
		if stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d did not stop within %v", pid, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}
