"""The e2e tier: a real control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)
built from the Go module proxy by ``scripts/e2e-tools.sh``, and helpers to drive it."""
