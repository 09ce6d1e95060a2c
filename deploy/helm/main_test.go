package helm

import (
	"os"
	"testing"

	"github.com/usersync/usersync/pkg/kube/kubetest"
)

// kube is one real kube-apiserver and etcd for the package's cluster tests.
var kube = kubetest.NewShared(kubetest.Options{})

func TestMain(m *testing.M) {
	code := m.Run()
	kube.Stop()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
