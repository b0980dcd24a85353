# Shared by the hack/*-binaries.sh build scripts (sourced, not run).

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

# build_begin WHAT: the start of a cached build into $out. The caller sets
# $out, $force (true/false) and defines up_to_date (its stamp and outputs are
# current). When up to date, says so and exits 0. Otherwise takes an flock
# on $out/.lock (one builder at a time: two `make test` runs may race on a
# cold cache), checks again (another run may just have built it), then sets
# $tmp (a build directory in $out, removed on exit) and $start (epoch
# seconds), removes the stamp, and returns holding the lock.
build_begin() {
	local what=$1
	if ! $force && up_to_date; then
		echo "$what up to date in $out"
		exit 0
	fi
	mkdir -p "$out"
	exec 9>"$out/.lock"
	if command -v flock >/dev/null; then flock 9; fi
	if ! $force && up_to_date; then
		echo "$what up to date in $out (built by another run)"
		exit 0
	fi
	tmp=$(mktemp -d "$out/.build.XXXXXX")
	# shellcheck disable=SC2064 # expand $tmp now
	trap "rm -rf '$tmp'" EXIT
	rm -f "$out/stamp"
	start=$(date +%s)
}
