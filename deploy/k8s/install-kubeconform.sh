#!/usr/bin/env bash
# Install kubeconform (validates the Kubernetes manifests of deploy/k8s offline, see
# tests/deploy/test_k8s.py) into .tools/bin of the repository, from the Go module proxy.
# Idempotent: does nothing when the pinned version is already there.
#
#   deploy/k8s/install-kubeconform.sh            # installs .tools/bin/kubeconform
#   KUBECONFORM_VERSION=v0.8.0 deploy/k8s/...    # another version (must build with the local Go)
#
# Needs Go (1.22 or newer) on PATH. kubeconform's own version string is "development" when
# built with `go install`, so the installed version is recorded beside it in
# .tools/bin/kubeconform.version.
set -euo pipefail

VERSION="${KUBECONFORM_VERSION:-v0.8.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.tools/bin"
STAMP="$BIN/kubeconform.version"

if [[ -x "$BIN/kubeconform" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
    exit 0
fi
command -v go >/dev/null || { echo "go is required to install kubeconform (go not found)" >&2; exit 1; }

mkdir -p "$BIN"
echo "installing kubeconform $VERSION into $BIN" >&2
# -p 1: a modest build on small machines; -buildvcs=false: no VCS stamping outside a module.
GOBIN="$BIN" GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
    go install -p 1 "github.com/yannh/kubeconform/cmd/kubeconform@$VERSION"
echo "$VERSION" > "$STAMP"
"$BIN/kubeconform" -h >/dev/null 2>&1 || { echo "kubeconform does not run" >&2; exit 1; }
