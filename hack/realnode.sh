#!/usr/bin/env bash
# One real kubelet node for a handover cluster (sandbox or test harness), and
# everything it needs on a Debian 12 host without systemd. Root only.
#
#   hack/realnode.sh deps                 apt-get update + install containerd, runc, CNI plugins,
#                                         iptables, conntrack, gcc, openssl, iproute2 (no-op when
#                                         installed)
#   hack/realnode.sh images OUT [handover] build the OCI archives into OUT: handover (the static
#                                         binaries, handover and handover-controller, on an empty base, named ghcr.io/handover-dev/
#                                         handover:0.1.0: the controller image and the tls-server
#                                         consumer; `make image` builds only this one), pause
#                                         (the kubernetes module's pause.c), nginx (Debian)
#   hack/realnode.sh up DIR CLUSTER_DIR   start containerd + kubelet as node $NODE_NAME against the
#                                         cluster in CLUSTER_DIR (state.json, pki/ca.{crt,key});
#                                         record the host state first; import IMAGES (dir of *.tar)
#   hack/realnode.sh down DIR             stop every process by PID, remove pods' containers,
#                                         mounts, netns, the bridge, iptables chains, cgroups, fixed
#                                         paths the node created; restore the recorded sysctls
#   hack/realnode.sh check DIR            exit 1 (listing what) when the host differs from the
#                                         state recorded by up: processes, mounts, links, iptables
#                                         chains, sysctls, cgroups, paths
#
# Env: NODE_BIN (kubelet, pause; default ~/.cache/handover/node/v1.35.4, hack/node-binaries.sh),
#      K8S_BIN (kubectl; default ~/.cache/handover/k8s/v1.35.4), IMAGES (dir of OCI archives to
#      import, default DIR/images), NODE_NAME (default handover-node), SYNC_FREQUENCY (kubelet
#      syncFrequency, default 10s; the Kubernetes default is 1m).
#
# Network: pods get addresses on the bridge handover0, 198.18.0.0/24 (RFC 2544, never routed: no
# masquerade, no default route beyond the bridge); the node's InternalIP is 198.18.0.1. Nothing
# listens beyond 127.0.0.1 and that bridge.
#
# Facts this follows (../shared/notes/real-node.md): hybrid cgroups need failCgroupV1: false and
# the cgroupfs driver; containerd's CRI needs restrict_oom_score_adj (no CAP_SYS_RESOURCE); crun
# does not work here, runc does.
set -euo pipefail

K8S_VERSION=v1.35.4
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/handover
NODE_BIN=${NODE_BIN:-${HANDOVER_NODE_BIN:-$CACHE/node/$K8S_VERSION}}
K8S_BIN=${K8S_BIN:-${HANDOVER_K8S_BIN:-$CACHE/k8s/$K8S_VERSION}}
NODE_NAME=${NODE_NAME:-handover-node}
SYNC_FREQUENCY=${SYNC_FREQUENCY:-10s}
BRIDGE=handover0
POD_CIDR=198.18.0.0/24
NODE_IP=198.18.0.1
PAUSE_IMAGE=handover.local/pause:$K8S_VERSION
NGINX_IMAGE=handover.local/nginx:debian12
HANDOVER_IMAGE=ghcr.io/handover-dev/handover:0.1.0
PACKAGES=(containerd runc containernetworking-plugins iptables conntrack gcc libc6-dev openssl iproute2)
# Sysctls the kubelet (kernel.*, vm.*) and the bridge plugin (ip_forward) set.
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
	net.ipv4.conf.all.forwarding net.bridge.bridge-nf-call-iptables)
# Fixed paths the kubelet, containerd and CNI use whatever their flags say.
FIXED_PATHS=(/var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /run/netns
	/run/containerd /etc/cni /opt/cni /var/run/calico /run/flannel)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'realnode: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
need_root() { [[ $(id -u) == 0 ]] || die "$1 needs root (containerd, kubelet, cgroups, iptables)"; }

cmd_deps() {
	need_root deps
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then log "Debian packages present"; return; fi
	log "installing ${missing[*]} (about 1 min)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- images -----------------------------------------------------------------

ociarchive() {
	(cd "$root/hack/ociarchive" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
		go build -trimpath -o "$1" .)
}

# image_handover OUT TOOL: the handover and handover-controller binaries
# (static) on an empty base as
# $HANDOVER_IMAGE: the controller image of the chart, and the tls-server
# consumer of the real-pod tests.
image_handover() {
	local out=$1 tool=$2 work
	work=$(mktemp -d)
	mkdir -p "$work/rootfs/etc/tls"
	CGO_ENABLED=0 make -C "$root" --no-print-directory build BIN="$work" >/dev/null
	cp "$work/handover" "$work/handover-controller" "$work/rootfs/"
	"$tool" -rootfs "$work/rootfs" -name "$HANDOVER_IMAGE" -entrypoint /handover -user 65532:65532 -out "$out/handover.tar"
	rm -rf "$work"
}

cmd_images() {
	local out=${1:?usage: images OUT} only=${2:-all}
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	local work tool
	work=$(mktemp -d)
	trap 'rm -rf "$work"' RETURN
	tool=$work/ociarchive
	ociarchive "$tool"
	image_handover "$out" "$tool"
	[[ $only == all ]] || return 0
	[[ -x $NODE_BIN/pause ]] || die "no $NODE_BIN/pause: run hack/node-binaries.sh"

	mkdir -p "$work/pause"
	cp "$NODE_BIN/pause" "$work/pause/pause"
	"$tool" -rootfs "$work/pause" -name "$PAUSE_IMAGE" -entrypoint /pause -out "$out/pause.tar"

	# nginx from Debian: the packages unpacked into a root filesystem.
	mkdir -p "$work/debs" "$work/nginx"
	chmod 755 "$work" "$work/debs" # apt-get download runs as _apt
	local debs=(nginx nginx-common libssl3 libpcre2-8-0 zlib1g libcrypt1 libc6)
	if ! (cd "$work/debs" && apt-get download -qq "${debs[@]}" >/dev/null 2>&1); then
		# no package lists yet (a fresh machine): fetch them, then retry
		need_root "apt-get update for nginx's packages"
		apt-get update -qq
		(cd "$work/debs" && apt-get download -qq "${debs[@]}" >/dev/null)
	fi
	for d in "$work"/debs/*.deb; do dpkg -x "$d" "$work/nginx"; done
	rm -rf "$work/nginx/usr/share/doc" "$work/nginx/usr/share/man" "$work/nginx/usr/share/locale"
	mkdir -p "$work/nginx/etc/tls" "$work/nginx/tmp" "$work/nginx/var/log/nginx" "$work/nginx/var/lib/nginx" "$work/nginx/run"
	chmod 1777 "$work/nginx/tmp"
	printf 'root:x:0:0:root:/root:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$work/nginx/etc/passwd"
	printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' >"$work/nginx/etc/group"
	# SIGQUIT is nginx's graceful shutdown (SIGTERM drops open connections),
	# as in the official nginx image; containerd's CRI honours StopSignal.
	"$tool" -rootfs "$work/nginx" -name "$NGINX_IMAGE" -entrypoint /usr/sbin/nginx -cmd "-g,daemon off;" -stop-signal SIGQUIT -out "$out/nginx.tar"
}

# --- host state ---------------------------------------------------------------

# snapshot prints the host state up/down/check compare, one "kind value" a line.
snapshot() {
	local s t
	for s in "${SYSCTLS[@]}"; do
		[[ -e /proc/sys/${s//.//} ]] && echo "sysctl $s=$(cat "/proc/sys/${s//.//}")"
	done
	for t in filter nat mangle raw; do
		iptables-save -t "$t" 2>/dev/null | sed -n "s/^:\([^ ]*\) .*/iptables $t \1/p"
		ip6tables-save -t "$t" 2>/dev/null | sed -n "s/^:\([^ ]*\) .*/ip6tables $t \1/p"
	done
	awk '{print "mount " $5}' /proc/self/mountinfo | sort -u
	ip -o link show | awk -F': ' '{print "link " $2}' | sed 's/@.*//'
	find /sys/fs/cgroup -maxdepth 3 -type d \( -name 'kubepods*' -o -name 'podruntime*' \) 2>/dev/null | sed 's/^/cgroup /'
	for p in "${FIXED_PATHS[@]}"; do [[ -e $p ]] && echo "path $p"; done
	return 0
}

# node_pids prints the PIDs of every process of the node in DIR: the recorded
# containerd and kubelet, the shims of its containerd, and every process in a
# kubepods cgroup.
node_pids() {
	local dir=$1 f pid
	for f in "$dir"/pids/*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		[[ -d /proc/$pid ]] && echo "$pid"
	done
	for pid in /proc/[0-9]*; do
		pid=${pid#/proc/}
		if grep -qs -- "$dir/containerd" "/proc/$pid/cmdline" 2>/dev/null || grep -qs kubepods "/proc/$pid/cgroup" 2>/dev/null; then
			echo "$pid"
		fi
	done | sort -un
}

# --- up -----------------------------------------------------------------------

write_node_pki() {
	local dir=$1 cluster=$2 name=$3
	local p=$dir/pki
	mkdir -p "$p"
	chmod 700 "$p"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$p/kubelet-client.key" 2>/dev/null
	openssl req -new -key "$p/kubelet-client.key" -subj "/O=system:nodes/CN=system:node:$name" -out "$p/kubelet-client.csr"
	openssl x509 -req -in "$p/kubelet-client.csr" -CA "$cluster/pki/ca.crt" -CAkey "$cluster/pki/ca.key" \
		-CAcreateserial -CAserial "$p/ca.srl" -days 2 -out "$p/kubelet-client.crt" 2>/dev/null
	local server
	server=$(sed -n 's/.*"apiServerURL": *"\([^"]*\)".*/\1/p' "$cluster/state.json")
	[[ -n $server ]] || die "no apiServerURL in $cluster/state.json"
	cat >"$dir/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: handover
  cluster: {server: "$server", certificate-authority: "$cluster/pki/ca.crt"}
users:
- name: node
  user: {client-certificate: "$p/kubelet-client.crt", client-key: "$p/kubelet-client.key"}
contexts:
- name: node
  context: {cluster: handover, user: node}
current-context: node
EOF
	chmod 600 "$dir/kubelet.kubeconfig"
}

write_configs() {
	local dir=$1 cluster=$2
	mkdir -p "$dir/cni/net.d" "$dir/containerd"
	cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd/containerd.sock"
[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
	# bridge without masquerade and without hostPort chains: pod addresses are
	# reachable from this host only, never routed.
	cat >"$dir/cni/net.d/10-handover.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "handover",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
              "dataDir": "$dir/cni/ipam"}},
    {"type": "loopback"}
  ]
}
EOF
	cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$cluster/pki/ca.crt"}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
syncFrequency: $SYNC_FREQUENCY
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
registerNode: true
podCIDR: $POD_CIDR
resolvConf: ""
clusterDomain: cluster.local
serializeImagePulls: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
failSwapOn: false
maxPods: 50
podPidsLimit: 256
EOF
}

start_bg() { # name pidfile log cmd...
	local name=$1 pidfile=$2 logf=$3
	shift 3
	setsid "$@" </dev/null >>"$logf" 2>&1 &
	echo $! >"$pidfile"
	log "$name started (pid $!, log $logf)"
}

wait_for() { # what seconds cmd...
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	die "timed out after ${secs}s waiting for $what"
}

cmd_up() {
	need_root up
	local dir=${1:?usage: up DIR CLUSTER_DIR} cluster=${2:?usage: up DIR CLUSTER_DIR}
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	cluster=$(cd "$cluster" && pwd)
	[[ -x $NODE_BIN/kubelet ]] || die "no $NODE_BIN/kubelet: run hack/node-binaries.sh"
	[[ -f $cluster/pki/ca.key && -f $cluster/state.json ]] || die "$cluster holds no cluster (pki/ca.key, state.json)"
	local images=${IMAGES:-$dir/images}
	[[ -f $images/pause.tar ]] || die "no $images/pause.tar: run hack/realnode.sh images $images"
	[[ -f $dir/host-before ]] && die "$dir already holds a node (run down first)"
	# One real node per host: the bridge and the node name are fixed.
	ip link show "$BRIDGE" >/dev/null 2>&1 &&
		die "the bridge $BRIDGE exists: a real node is up (or a killed run left one); take it down with: hack/realnode.sh down ITS_DIR"
	mkdir -p "$dir/pids" "$dir/logs" "$dir/kubelet"
	snapshot >"$dir/host-before"
	local t0
	t0=$(date +%s.%N)
	write_node_pki "$dir" "$cluster" "$NODE_NAME"
	write_configs "$dir" "$cluster"

	# The bridge exists before the kubelet so that its node IP is on the host;
	# the bridge plugin adopts it.
	ip link add "$BRIDGE" type bridge
	ip addr add "$NODE_IP/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up

	start_bg containerd "$dir/pids/containerd.pid" "$dir/logs/containerd.log" \
		containerd --config "$dir/containerd/config.toml"
	wait_for "containerd" 30 ctr -a "$dir/containerd/containerd.sock" version
	local a
	for a in "$images"/*.tar; do
		ctr -a "$dir/containerd/containerd.sock" -n k8s.io images import "$a" >/dev/null
	done
	log "images imported: $(ctr -a "$dir/containerd/containerd.sock" -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"

	start_bg kubelet "$dir/pids/kubelet.pid" "$dir/logs/kubelet.log" \
		"$NODE_BIN/kubelet" --config="$dir/kubelet.yaml" --kubeconfig="$dir/kubelet.kubeconfig" \
		--root-dir="$dir/kubelet" --cert-dir="$dir/pki" --hostname-override="$NODE_NAME" \
		--node-ip="$NODE_IP" --node-labels=handover.dev/real-node=true --v=1
	local kc
	kc=$(sed -n 's/.*"kubeconfig": *"\([^"]*\)".*/\1/p' "$cluster/state.json")
	wait_for "node $NODE_NAME Ready" 120 node_ready "$kc"
	log "node $NODE_NAME Ready $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s after up began"
}

node_ready() {
	[[ -d /proc/$(cat "$dir/pids/kubelet.pid") ]] || { tail -20 "$dir/logs/kubelet.log" >&2; die "kubelet exited"; }
	"$K8S_BIN/kubectl" --kubeconfig "$1" get node "$NODE_NAME" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}

# --- down ---------------------------------------------------------------------

stop_pid() { # pid: SIGTERM, wait up to 10 s, SIGKILL
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		[[ -d /proc/$pid ]] || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
	need_root down
	local dir=${1:?usage: down DIR}
	[[ -d $dir ]] || { log "no $dir: nothing to do"; return 0; }
	dir=$(cd "$dir" && pwd)
	# Without a recorded host state up never started anything here (and the
	# host may run another node): touch nothing.
	[[ -f $dir/host-before ]] || { log "$dir holds no node: nothing to do"; return 0; }
	local sock=$dir/containerd/containerd.sock pid c m
	# 1. the kubelet first, so that it restarts nothing.
	[[ -f $dir/pids/kubelet.pid ]] && stop_pid "$(cat "$dir/pids/kubelet.pid")"
	# 2. every container (pods' and sandboxes'), while containerd still runs:
	#    killing the tasks ends their shims.
	if [[ -S $sock ]] && ctr -a "$sock" version >/dev/null 2>&1; then
		for c in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
		done
		sleep 0.5
		for c in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$sock" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
		done
		for c in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
			ctr -a "$sock" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
		done
	fi
	[[ -f $dir/pids/containerd.pid ]] && stop_pid "$(cat "$dir/pids/containerd.pid")"
	# 3. whatever is left of the node, by PID (shims, container processes).
	for pid in $(node_pids "$dir"); do stop_pid "$pid"; done
	# 4. mounts: everything under DIR (secret tmpfs, overlay rootfs, the kubelet's
	#    self bind mount, shm), the pods' network namespaces, then /run/netns and
	#    the fixed paths if the node created them.
	for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($dir/|/run/netns/cni-|/var/run/netns/cni-|/run/containerd/)" | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -f /run/netns/cni-* 2>/dev/null || true
	if [[ -f $dir/host-before ]]; then
		grep -qx 'mount /run/netns' "$dir/host-before" || { umount -l /run/netns 2>/dev/null || true; }
		for m in "${FIXED_PATHS[@]}"; do
			grep -qx "path $m" "$dir/host-before" || rm -rf "$m"
		done
	fi
	# 5. the bridge and any veth left on it.
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
	# 6. cgroups (leaves first), in every hierarchy.
	find /sys/fs/cgroup -depth -type d \( -path '*/kubepods*' -o -path '*/podruntime*' \) -exec rmdir {} \; 2>/dev/null || true
	# 7. iptables chains created since up, with the rules that jump to them;
	#    then the sysctls as recorded.
	if [[ -f $dir/host-before ]]; then
		restore_iptables "$dir/host-before"
		local line k v
		while read -r line; do
			k=${line#sysctl }
			v=${k#*=}
			k=${k%%=*}
			[[ $(cat "/proc/sys/${k//.//}") == "$v" ]] || echo "$v" >"/proc/sys/${k//.//}"
		done < <(grep '^sysctl ' "$dir/host-before")
	fi
	log "node in $dir down"
}

restore_iptables() {
	local before=$1 fam t chain
	for fam in iptables ip6tables; do
		for t in filter nat mangle raw; do
			local new=()
			while read -r chain; do
				grep -qx "$fam $t $chain" "$before" || new+=("$chain")
			done < <("$fam-save" -t "$t" 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/\1/p')
			((${#new[@]})) || continue
			for chain in "${new[@]}"; do
				"$fam-save" -t "$t" | grep -E -- "^-A [^ ]+ .*-j $chain( |\$)" | sed 's/^-A //' |
					while read -r rule; do eval "$fam -t $t -D $rule" || true; done
			done
			for chain in "${new[@]}"; do "$fam" -t "$t" -F "$chain" 2>/dev/null || true; done
			for chain in "${new[@]}"; do "$fam" -t "$t" -X "$chain" 2>/dev/null || true; done
		done
	done
}

# --- check --------------------------------------------------------------------

cmd_check() {
	local dir=${1:?usage: check DIR}
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/host-before ]] || die "no $dir/host-before: up never recorded the host"
	local bad=0 diffs pids
	diffs=$(diff <(sort "$dir/host-before") <(snapshot | sort) | grep '^[<>]' || true)
	if [[ -n $diffs ]]; then
		log "the host differs from before up (< before, > now):"
		echo "$diffs" >&2
		bad=1
	fi
	pids=$(node_pids "$dir" | tr '\n' ' ')
	if [[ -n ${pids// /} ]]; then
		log "node processes still running: $pids"
		bad=1
	fi
	((bad == 0)) || exit 1
	log "host as before up: no process, mount, link, iptables chain, sysctl, cgroup or path left"
}

case ${1:-} in
deps) cmd_deps ;;
images) shift; cmd_images "$@" ;;
up) shift; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
check) shift; cmd_check "$@" ;;
*) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
