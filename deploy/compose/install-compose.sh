#!/usr/bin/env bash
# Install Docker Compose v2 as a standalone binary into .tools/bin/docker-compose (and as a
# docker CLI plugin, .tools/docker-cli-plugins/docker-compose), built from source with Go.
#
# Machines without a Docker engine (CI, the dev machines) use it to render and validate
# deploy/compose/compose.yaml (`docker-compose config` needs no engine); see
# tests/deploy/test_compose.py. Idempotent and quiet: does nothing when the wanted version is
# there already; the Go output is shown only when the build fails.
#
# Why not `go install github.com/docker/compose/v2/cmd@VERSION`: since v2.35 compose's go.mod has
# an `exclude` directive, and `go install pkg@version` refuses modules with one. The module is
# downloaded with `go mod download` and built as the main module instead (same sources, same
# pinned dependencies from its go.sum). Building it also puts compose-go's compose-spec.json
# into the Go module cache, which the tests validate against.
#
#   deploy/compose/install-compose.sh            # COMPOSE_VERSION=v2.40.3 by default
#   COMPOSE_VERSION=v2.39.4 deploy/compose/install-compose.sh
set -euo pipefail

VERSION="${COMPOSE_VERSION:-v2.40.3}"
MODULE="github.com/docker/compose/v2"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="$root/.tools/bin"
plugin_dir="$root/.tools/docker-cli-plugins"
binary="$bin_dir/docker-compose"

link_plugin() {
    mkdir -p "$plugin_dir"
    ln -sfn ../bin/docker-compose "$plugin_dir/docker-compose"
}

if [ -x "$binary" ] && [ "$("$binary" version --short 2>/dev/null)" = "${VERSION#v}" ]; then
    link_plugin
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-compose.sh: Go is required to build Docker Compose $VERSION, and 'go' is not" \
        "on PATH. Install Go 1.24 or newer (https://go.dev/dl/) and run this script again." >&2
    exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log" "$binary.tmp"' EXIT

fail() {
    cat "$log" >&2
    echo "install-compose.sh: $1" >&2
    exit 1
}

go mod download "$MODULE@$VERSION" >"$log" 2>&1 \
    || fail "could not download $MODULE@$VERSION from the Go module proxy"
source_dir="$(go env GOMODCACHE)/$MODULE@$VERSION"
[ -d "$source_dir" ] || fail "$source_dir is missing after the download"

mkdir -p "$bin_dir"
(
    cd "$source_dir"
    GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
        -ldflags "-s -w -X $MODULE/internal.Version=$VERSION" \
        -o "$binary.tmp" ./cmd
) >>"$log" 2>&1 || fail "building Docker Compose $VERSION failed (output above)"
mv "$binary.tmp" "$binary"
link_plugin

installed="$("$binary" version --short 2>/dev/null || true)"
[ "$installed" = "${VERSION#v}" ] || fail "built binary reports version '$installed'"
