#!/usr/bin/env bash
# Builds the real Kubernetes control plane the integration tests run against
# — kube-apiserver and etcd — and helm 3 and 4, from the Go module proxy,
# once per version, into a cache outside the clone (CI clones afresh every
# run):
#
#   ${USERSYNC_CACHE:-$HOME/.cache/usersync}/k8s-<version>/{kube-apiserver,etcd}
#   ${USERSYNC_CACHE:-$HOME/.cache/usersync}/helm-<version>/helm
#
# and links them into bin/kube (git-ignored), which the tests read through
# KUBE_ASSETS (the same layout as controller-runtime's KUBEBUILDER_ASSETS),
# and bin/helm (Helm 3) and bin/helm4 (Helm 4): the chart is tested with both.
# A first build takes about 4-5 minutes on a 2-core machine; later runs find
# the binaries and return at once. Prints the assets directory on stdout.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-3.6.13}
HELM_VERSION=${HELM_VERSION:-3.19.0}
HELM4_VERSION=${HELM4_VERSION:-4.3.1}
cache=${USERSYNC_CACHE:-$HOME/.cache/usersync}
root=$(cd "$(dirname "$0")/.." && pwd)
k8sdir=$cache/k8s-$K8S_VERSION
helmdir=$cache/helm-$HELM_VERSION
helm4dir=$cache/helm-$HELM4_VERSION
mkdir -p "$k8sdir" "$helmdir" "$helm4dir" "$root/bin/kube"

log() { echo "kube-assets: $*" >&2; }

# build_in <output> <go.mod body> <main.go body> [ldflags]: builds a throwaway
# module in a temporary directory and moves the binary into place only when
# the build succeeded, so an interrupted build is never mistaken for a
# cached one.
build_in() {
  local out=$1 gomod=$2 main=$3 ldflags=${4:-} tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  printf '%s\n' "$gomod" >"$tmp/go.mod"
  printf '%s\n' "$main" >"$tmp/main.go"
  (cd "$tmp" && GOFLAGS=-mod=mod go mod tidy >&2 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/bin" . >&2)
  mv "$tmp/bin" "$out"
}

if [ ! -x "$k8sdir/kube-apiserver" ]; then
  log "building kube-apiserver v$K8S_VERSION (about 4 minutes, once)"
  start=$(date +%s)
  modfile=$(cd "$(mktemp -d)" && go mod init probe >/dev/null 2>&1 &&
    go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  # k8s.io/kubernetes points each staging module at ./staging/…; outside its
  # repository they must be the published k8s.io/X v0.<minor>.<patch>.
  staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile")
  replaces=""
  for m in $staging; do replaces+="replace $m => $m v0.${K8S_VERSION#1.}"$'\n'; done
  build_in "$k8sdir/kube-apiserver" "module kubeapiserver

go 1.26

require k8s.io/kubernetes v$K8S_VERSION

$replaces" 'package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }' \
    "-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*} -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  log "kube-apiserver built in $(($(date +%s) - start)) s"
fi

if [ ! -x "$k8sdir/etcd" ]; then
  log "building etcd v$ETCD_VERSION (once)"
  start=$(date +%s)
  build_in "$k8sdir/etcd" "module etcd

go 1.26

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION" 'package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }'
  log "etcd built in $(($(date +%s) - start)) s"
fi

if [ ! -x "$helmdir/helm" ]; then
  log "building helm v$HELM_VERSION (once)"
  start=$(date +%s)
  GOBIN=$helmdir CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" >&2
  log "helm built in $(($(date +%s) - start)) s"
fi

if [ ! -x "$helm4dir/helm" ]; then
  log "building helm v$HELM4_VERSION (once)"
  start=$(date +%s)
  GOBIN=$helm4dir CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM4_VERSION" "helm.sh/helm/v4/cmd/helm@v$HELM4_VERSION" >&2
  log "helm built in $(($(date +%s) - start)) s"
fi

ln -sfn "$k8sdir/kube-apiserver" "$root/bin/kube/kube-apiserver"
ln -sfn "$k8sdir/etcd" "$root/bin/kube/etcd"
ln -sfn "$helmdir/helm" "$root/bin/helm"
ln -sfn "$helm4dir/helm" "$root/bin/helm4"
echo "$root/bin/kube"
