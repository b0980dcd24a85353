#!/usr/bin/env bash
# Builds what a real kubelet node needs that hack/k8s-binaries.sh does not:
#
#   kubelet  k8s.io/kubernetes/cmd/kubelet v1.35.4 (hack/node module: the same pins
#            as hack/k8s plus the kubelet's 3 extra modules; committed go.sum)
#   pause    the pod sandbox binary, built with `gcc -static` from
#            build/pause/linux/pause.c as shipped in the k8s.io/kubernetes module
#
# into a cache directory outside the repository, next to (never inside) the
# shared k8s binaries so that their stamp is not touched:
#
#   ${HANDOVER_NODE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/handover/node/v1.35.4}
#
# Same flags as hack/k8s-binaries.sh: CGO_ENABLED=0, -trimpath, -mod=readonly,
# version ldflags. A stamp file is written last; when it matches the script
# returns at once.
#
# Usage: hack/node-binaries.sh [--force]
# Env:   HANDOVER_NODE_BIN  output directory (default above)
#        GO                 go command (default: go)
#        CC                 C compiler for pause (default: gcc)
set -euo pipefail

main() {
	K8S_VERSION=v1.35.4
	RECIPE=1

	GO=${GO:-go}
	CC=${CC:-gcc}
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	out=${HANDOVER_NODE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/handover/node/${K8S_VERSION}}
	force=false
	[[ "${1:-}" == "--force" ]] && force=true

	export GOWORK=off
	export GOFLAGS="-mod=readonly -buildvcs=false"
	export CGO_ENABLED=0

	stamp() {
		local gov
		gov=$(cd "$root/hack/node" && "$GO" env GOVERSION GOOS GOARCH | tr '\n' ' ')
		printf 'recipe=%s\nkubernetes=%s\ngo=%s\ncc=%s\n' "$RECIPE" "$K8S_VERSION" "$gov" "$("$CC" -dumpfullversion 2>/dev/null || echo none)"
		(cd "$root/hack" && sha256sum node/go.mod node/go.sum)
	}
	up_to_date() {
		[[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$want" && -x "$out/kubelet" && -x "$out/pause" ]]
	}

	want=$(stamp)
	# shellcheck source=lib.sh
	source "$root/hack/lib.sh"
	build_begin "node binaries"

	ldflags=$(k8s_ldflags "$K8S_VERSION")

	echo "building kubelet ${K8S_VERSION} into $out (about 3 min on a partly warm cache, 2 cores)"
	(
		cd "$root/hack/node"
		"$GO" build -trimpath -ldflags "$ldflags" -o "$tmp/kubelet" k8s.io/kubernetes/cmd/kubelet
		dir=$("$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes)
		"$CC" -Os -static -Wall -Werror -DVERSION="${K8S_VERSION}" -o "$tmp/pause" "$dir/build/pause/linux/pause.c"
		strip "$tmp/pause" 2>/dev/null || true
	)
	got=$("$tmp/kubelet" --version)
	[[ "$got" == "Kubernetes ${K8S_VERSION}" ]] || { echo "kubelet reports '$got', want Kubernetes ${K8S_VERSION}" >&2; exit 1; }
	for b in kubelet pause; do mv -f "$tmp/$b" "$out/$b"; done
	printf '%s\n' "$want" >"$out/stamp"
	echo "node binaries built in $(($(date +%s) - start))s into $out"
}

main "$@"
exit
