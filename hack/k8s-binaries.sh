#!/usr/bin/env bash
# Builds the Kubernetes test binaries from the Go module proxy, nothing else:
#
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (hack/k8s module)
#   kwok + stages.yaml (the kwok stages a kubelet-less cluster needs)       (hack/kwok module)
#
# into a cache directory outside the repository:
#
#   ${HANDOVER_K8S_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/handover/k8s/v1.35.4}
#
# A stamp file (versions, Go version, platform, hashes of the two go.mod/go.sum
# pairs) is written last; when it matches and every binary is present the script
# returns at once. Both modules are throw-away build modules, separate from
# handover's go.mod; their committed go.sum files pin every download by checksum
# (-mod=readonly: a missing or wrong sum fails the build instead of resolving).
#
# Usage: hack/k8s-binaries.sh [--force]
# Env:   HANDOVER_K8S_BIN  output directory (default above)
#        GO                go command (default: go)
# Cold on 2 cores: 5 min 43 s (light load) to 22 min 43 s (loaded) measured, 1.9 GB
# peak RSS (docs/testing.md); warm (stamp matches): 0.05 s.
set -euo pipefail

# Everything runs inside main, which bash parses completely before running,
# so editing this file while a build runs cannot derail that build.
main() {
	K8S_VERSION=v1.35.4
	ETCD_VERSION=v3.6.5
	KWOK_VERSION=v0.8.0
	# Bump when the recipe below changes in a way that needs a rebuild.
	RECIPE=1

	GO=${GO:-go}
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	out=${HANDOVER_K8S_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/handover/k8s/${K8S_VERSION}}
	force=false
	[[ "${1:-}" == "--force" ]] && force=true

	binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

	# The build modules must not see a go.work above them, must never rewrite their
	# go.mod/go.sum, and must build static binaries.
	export GOWORK=off
	export GOFLAGS="-mod=readonly -buildvcs=false"
	export CGO_ENABLED=0

	stamp() {
		local gov
		gov=$(cd "$root/hack/k8s" && "$GO" env GOVERSION GOOS GOARCH | tr '\n' ' ')
		printf 'recipe=%s\nkubernetes=%s\netcd=%s\nkwok=%s\ngo=%s\n' \
			"$RECIPE" "$K8S_VERSION" "$ETCD_VERSION" "$KWOK_VERSION" "$gov"
		(cd "$root/hack" && sha256sum k8s/go.mod k8s/go.sum kwok/go.mod kwok/go.sum)
	}

	up_to_date() {
		[[ -f "$out/stamp" ]] || return 1
		[[ "$(cat "$out/stamp")" == "$want" ]] || return 1
		local b
		for b in "${binaries[@]}"; do [[ -x "$out/$b" ]] || return 1; done
		[[ -f "$out/stages.yaml" ]]
	}

	want=$(stamp)
	# shellcheck source=lib.sh
	source "$root/hack/lib.sh"
	build_begin "k8s binaries"

	ldflags=$(k8s_ldflags "$K8S_VERSION")

	echo "building kubernetes ${K8S_VERSION} and etcd ${ETCD_VERSION} into $out (cold: 6-23 min on 2 cores, by load)"
	(
		cd "$root/hack/k8s"
		"$GO" build -trimpath -ldflags "$ldflags" -o "$tmp/" \
			go.etcd.io/etcd/server/v3 \
			k8s.io/kubernetes/cmd/kube-apiserver \
			k8s.io/kubernetes/cmd/kube-controller-manager \
			k8s.io/kubernetes/cmd/kube-scheduler \
			k8s.io/kubernetes/cmd/kubectl
	)
	# go build names the etcd server main package after its module path: server.
	mv "$tmp/server" "$tmp/etcd"

	echo "building kwok ${KWOK_VERSION}"
	(
		cd "$root/hack/kwok"
		"$GO" build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
			-o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok
		# Standalone kwok needs its Stage objects from --config; these five make
		# nodes Ready (with leases) and move pods through ready/complete/delete.
		dir=$("$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
		for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
			pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
			echo "---"
			cat "$dir/kustomize/stage/$f.yaml"
		done >"$tmp/stages.yaml"
	)

	# Refuse binaries that do not report the version we pinned.
	got=$("$tmp/kube-apiserver" --version)
	[[ "$got" == "Kubernetes ${K8S_VERSION}" ]] || { echo "kube-apiserver reports '$got', want Kubernetes ${K8S_VERSION}" >&2; exit 1; }
	# Capture first: with pipefail, `etcd --version | grep -q` fails when grep
	# exits early and etcd gets SIGPIPE.
	got=$("$tmp/etcd" --version)
	[[ "$got" == *"etcd Version: ${ETCD_VERSION#v}"* ]] || { echo "etcd reports '${got%%$'\n'*}', want ${ETCD_VERSION}" >&2; exit 1; }

	for b in "${binaries[@]}" stages.yaml; do mv -f "$tmp/$b" "$out/$b"; done
	printf '%s\n' "$want" >"$out/stamp"
	echo "k8s binaries built in $(($(date +%s) - start))s into $out"
}

main "$@"
exit
