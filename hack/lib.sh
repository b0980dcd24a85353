# Shared by hack/k8s-binaries.sh and hack/node-binaries.sh (sourced, not run).

# k8s_ldflags prints the -ldflags for a Kubernetes binary of version $1
# (vMAJOR.MINOR.PATCH): stripped, with k8s.io/component-base/version and
# k8s.io/client-go/pkg/version set (otherwise it reports v0.0.0-master).
k8s_ldflags() {
	local version=$1 major minor pkg build_date flags="-s -w"
	major=${version#v}; major=${major%%.*}
	minor=${version#v*.}; minor=${minor%%.*}
	build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=${version}"
		flags+=" -X $pkg.gitMajor=${major}"
		flags+=" -X $pkg.gitMinor=${minor}"
		flags+=" -X $pkg.gitTreeState=clean"
		flags+=" -X $pkg.buildDate=${build_date}"
	done
	printf '%s' "$flags"
}
