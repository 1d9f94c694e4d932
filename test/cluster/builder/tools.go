//go:build tools

// Package builder pins the Kubernetes control-plane commands that the cluster tool builds.
// It is its own module because k8s.io/kubernetes needs a replace line per staging module,
// which neither the main module nor the tool's module should carry.
package builder

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
