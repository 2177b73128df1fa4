#!/usr/bin/env bash
# make local-cluster: a kind cluster "agentsmcp" with a registry at localhost:5001, following kind's
# "Local Registry" guide (https://kind.sigs.k8s.io/docs/user/local-registry/) and its ingress guide
# (port 80/443 of the host on the node labelled ingress-ready=true). Idempotent.
# Environment: KIND_CLUSTER (agentsmcp), REGISTRY_NAME (kind-registry), REGISTRY_PORT (5001).
set -euo pipefail

CLUSTER="${KIND_CLUSTER:-agentsmcp}"
REGISTRY="${REGISTRY_NAME:-kind-registry}"
PORT="${REGISTRY_PORT:-5001}"

for tool in kind docker; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "local-cluster: $tool is not installed (kind: https://kind.sigs.k8s.io/docs/user/quick-start/)" >&2
    exit 1
  fi
done

if [[ "$(docker inspect -f '{{.State.Running}}' "$REGISTRY" 2>/dev/null || true)" != "true" ]]; then
  echo "local-cluster: starting registry $REGISTRY on 127.0.0.1:${PORT}"
  docker run -d --restart=always -p "127.0.0.1:${PORT}:5000" --network bridge --name "$REGISTRY" registry:2
fi

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config=- <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
- |-
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
nodes:
- role: control-plane
  kubeadmConfigPatches:
  - |
    kind: InitConfiguration
    nodeRegistration:
      kubeletExtraArgs:
        node-labels: "ingress-ready=true"
  extraPortMappings:
  - containerPort: 80
    hostPort: 80
    protocol: TCP
  - containerPort: 443
    hostPort: 443
    protocol: TCP
KIND
fi

# Nodes resolve localhost:PORT to the registry container.
for node in $(kind get nodes --name "$CLUSTER"); do
  dir="/etc/containerd/certs.d/localhost:${PORT}"
  docker exec "$node" mkdir -p "$dir"
  printf '[host."http://%s:5000"]\n' "$REGISTRY" | docker exec -i "$node" cp /dev/stdin "$dir/hosts.toml"
done
if [[ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REGISTRY")" == "null" ]]; then
  docker network connect kind "$REGISTRY"
fi
kubectl --context "kind-${CLUSTER}" apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${PORT}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
YAML
echo "local-cluster: kind cluster '${CLUSTER}' (context kind-${CLUSTER}), registry localhost:${PORT}"
