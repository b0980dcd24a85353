#!/usr/bin/env bash
# Builds cert-manager's certificate controllers from the Go module proxy, pinned
# (github.com/cert-manager/cert-manager in hack/cert-manager/go.mod, every
# download checked against hack/cert-manager/go.sum), and copies its CRDs, into
#
#   ${HANDOVER_CERT_MANAGER_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/handover/cert-manager/v1.21.2}
#       cert-manager-controller   hack/cert-manager/main.go over cert-manager's pkg/controller
#       crds/*.yaml               cert-manager.io CRDs of the same module version
#
# cert-manager publishes its controller's main package in a module the proxy
# does not serve, so hack/cert-manager holds a minimal main over the library
# (the same controllers, context factory and informers). A stamp (version, Go,
# platform, hashes of hack/cert-manager) is written last; when it matches the
# script returns at once. Separate from the Kubernetes binaries' cache: never
# forces their rebuild.
#
# Usage: hack/cert-manager-binaries.sh [--force]
# Env:   HANDOVER_CERT_MANAGER_BIN  output directory (default above)
#        GO                         go command (default: go)
set -euo pipefail

main() {
	CERT_MANAGER_VERSION=v1.21.2
	RECIPE=1

	GO=${GO:-go}
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	out=${HANDOVER_CERT_MANAGER_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/handover/cert-manager/${CERT_MANAGER_VERSION}}
	force=false
	[[ "${1:-}" == "--force" ]] && force=true

	export GOWORK=off
	export GOFLAGS="-mod=readonly -buildvcs=false"
	export CGO_ENABLED=0

	stamp() {
		local gov
		gov=$(cd "$root/hack/cert-manager" && "$GO" env GOVERSION GOOS GOARCH | tr '\n' ' ')
		printf 'recipe=%s\ncert-manager=%s\ngo=%s\n' "$RECIPE" "$CERT_MANAGER_VERSION" "$gov"
		(cd "$root/hack" && sha256sum cert-manager/go.mod cert-manager/go.sum cert-manager/main.go)
	}

	up_to_date() {
		[[ -f "$out/stamp" ]] || return 1
		[[ "$(cat "$out/stamp")" == "$want" ]] || return 1
		[[ -x "$out/cert-manager-controller" ]] || return 1
		[[ -f "$out/crds/cert-manager.io_certificates.yaml" ]]
	}

	want=$(stamp)
	# shellcheck source=lib.sh
	source "$root/hack/lib.sh"
	build_begin "cert-manager binaries"

	echo "building cert-manager ${CERT_MANAGER_VERSION} controllers into $out"
	(
		cd "$root/hack/cert-manager"
		"$GO" build -trimpath -ldflags "-s -w" -o "$tmp/cert-manager-controller" .
		dir=$("$GO" list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
		[[ "$("$GO" list -m -f '{{.Version}}' github.com/cert-manager/cert-manager)" == "$CERT_MANAGER_VERSION" ]] ||
			{ echo "hack/cert-manager/go.mod does not pin cert-manager ${CERT_MANAGER_VERSION}" >&2; exit 1; }
		mkdir -p "$tmp/crds"
		cp "$dir"/deploy/crds/cert-manager.io_*.yaml "$tmp/crds/"
		chmod u+w "$tmp"/crds/*.yaml
	)

	rm -rf "$out/crds"
	mv -f "$tmp/crds" "$out/crds"
	mv -f "$tmp/cert-manager-controller" "$out/cert-manager-controller"
	printf '%s\n' "$want" >"$out/stamp"
	echo "cert-manager binaries built in $(($(date +%s) - start))s into $out"
}

main "$@"
exit
