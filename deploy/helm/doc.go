// Package helm holds the tests of the usersync Helm chart (in usersync/):
// lint and template with Helm 3 and Helm 4 for every ci/*-values.yaml, the
// values schema and documentation, the alert rules under promtool, and the
// chart installed on a real kube-apiserver with its Jobs run by a kubelet
// stand-in. It has no code of its own.
package helm
