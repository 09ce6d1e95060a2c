package helm

import (
	"os"
	"testing"

	"github.com/usersync/usersync/pkg/kube/kubetest"
)

// TestMain shares one real kube-apiserver and etcd among the package's
// cluster tests, and removes the binaries they built.
func TestMain(m *testing.M) {
	kubetest.Main(m, func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	})
}
