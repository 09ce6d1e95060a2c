package helm

import (
	"testing"

	"github.com/usersync/usersync/pkg/binarytest"
	"github.com/usersync/usersync/pkg/kube/kubetest"
)

// TestMain shares one real kube-apiserver and etcd among the package's
// cluster tests, and removes the binaries they built.
func TestMain(m *testing.M) { kubetest.Main(m, binarytest.RemoveAll) }
