package cluster

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/handover-dev/handover/internal/testenv/pki"
)

// Loopback is the only address any component listens on.
const Loopback = "127.0.0.1"

// serviceCIDR is the service IP range; 10.0.0.1 (the kubernetes Service) is
// in the apiserver certificate's SANs.
const serviceCIDR = "10.0.0.0/24"

// ports are the loopback ports of one cluster.
type ports struct {
	EtcdClient, EtcdPeer, APIServer, ControllerManager, Scheduler, Kwok int
}

// layout is everything the component command lines are derived from.
type layout struct {
	BinDir string
	Dir    string
	Ports  ports
	Files  pki.Files
}

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.Dir}, elem...)...)
}

func (l layout) kubeconfig(component string) string { return l.path(component + ".kubeconfig") }

func hostPort(port int) string { return Loopback + ":" + strconv.Itoa(port) }

func (l layout) etcdURL() string      { return "https://" + hostPort(l.Ports.EtcdClient) }
func (l layout) apiserverURL() string { return "https://" + hostPort(l.Ports.APIServer) }

// etcdArgs: one member, client URL with mutual TLS (etcd docs: security,
// "--client-cert-auth"), peer URL unused but loopback, fsync off because the
// data dir is throw-away.
func (l layout) etcdArgs() []string {
	peer := "http://" + hostPort(l.Ports.EtcdPeer)
	return []string{
		"--name=default",
		"--data-dir=" + l.path("etcd"),
		"--listen-client-urls=" + l.etcdURL(),
		"--advertise-client-urls=" + l.etcdURL(),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		"--initial-cluster-state=new",
		"--cert-file=" + l.Files.EtcdServer.Cert,
		"--key-file=" + l.Files.EtcdServer.Key,
		"--trusted-ca-file=" + l.Files.EtcdCA.Cert,
		"--client-cert-auth=true",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

// apiserverArgs: loopback serving needs --endpoint-reconciler-type=none (the
// lease reconciler refuses a loopback advertise address).
func (l layout) apiserverArgs() []string {
	return []string{
		"--bind-address=" + Loopback,
		"--advertise-address=" + Loopback,
		"--secure-port=" + strconv.Itoa(l.Ports.APIServer),
		"--endpoint-reconciler-type=none",
		"--etcd-servers=" + l.etcdURL(),
		"--etcd-cafile=" + l.Files.EtcdCA.Cert,
		"--etcd-certfile=" + l.Files.EtcdClient.Cert,
		"--etcd-keyfile=" + l.Files.EtcdClient.Key,
		"--tls-cert-file=" + l.Files.APIServer.Cert,
		"--tls-private-key-file=" + l.Files.APIServer.Key,
		"--client-ca-file=" + l.Files.CA.Cert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + l.Files.ServiceAccountPub,
		"--service-account-signing-key-file=" + l.Files.ServiceAccountKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		// kubectl logs/exec on a real kubelet node (hack/realnode.sh): reach
		// the kubelet at its InternalIP with a client certificate of the CA
		// its x509 authentication trusts.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--kubelet-client-certificate=" + l.Files.Admin.Cert,
		"--kubelet-client-key=" + l.Files.Admin.Key,
		"--profiling=false",
		"--cert-dir=" + l.path("apiserver-certs"),
	}
}

// componentArgs are the flags kube-controller-manager and kube-scheduler share.
func (l layout) componentArgs(name string, port int, serving pki.Pair) []string {
	return []string{
		"--kubeconfig=" + l.kubeconfig(name),
		"--authentication-kubeconfig=" + l.kubeconfig(name),
		"--authorization-kubeconfig=" + l.kubeconfig(name),
		"--bind-address=" + Loopback,
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + serving.Cert,
		"--tls-private-key-file=" + serving.Key,
		"--leader-elect=false",
		"--profiling=false",
	}
}

func (l layout) controllerManagerArgs() []string {
	return append(l.componentArgs(BinControllerManager, l.Ports.ControllerManager, l.Files.ControllerManagerServing),
		"--service-account-private-key-file="+l.Files.ServiceAccountKey,
		"--root-ca-file="+l.Files.CA.Cert,
		// Controllers share the controller-manager's own identity (in
		// system:masters, see pki.Files.ControllerManager). Per-controller
		// service-account credentials make start-up wait on token creation
		// for each controller: 8 s to Ready instead of 3.5 s, for an RBAC
		// split nothing here tests.
		"--use-service-account-credentials=false",
		"--cluster-signing-cert-file="+l.Files.CA.Cert,
		"--cluster-signing-key-file="+l.Files.CA.Key,
		"--service-cluster-ip-range="+serviceCIDR,
	)
}

func (l layout) schedulerArgs() []string {
	return l.componentArgs(BinScheduler, l.Ports.Scheduler, l.Files.SchedulerServing)
}

// kwokArgs: options go on flags; --config holds only Stage objects (a config
// with a KwokConfiguration crashes kwok v0.8.0: "node leases parallelism must
// be greater than 0"). kwok manages only the nodes createNode makes (their
// kwok.x-k8s.io/node=fake annotation), so a real kubelet node that joins the
// cluster (hack/realnode.sh) is left to its kubelet.
func (l layout) kwokArgs() []string {
	return []string{
		"--kubeconfig=" + l.kubeconfig(BinKwok),
		"--config=" + filepath.Join(l.BinDir, KwokStages),
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--server-address=" + hostPort(l.Ports.Kwok),
		"--tls-cert-file=" + l.Files.KwokServing.Cert,
		"--tls-private-key-file=" + l.Files.KwokServing.Key,
		"--node-ip=" + Loopback,
		"--cidr=10.244.0.0/16",
		"--node-lease-duration-seconds=40",
	}
}

// component is one process of the cluster, in start order.
type component struct {
	name   string
	args   []string
	health string // https URL probed for readiness ("" = checked otherwise)
}

func (l layout) components() []component {
	h := func(port int, p string) string { return fmt.Sprintf("https://%s%s", hostPort(port), p) }
	return []component{
		{BinEtcd, l.etcdArgs(), h(l.Ports.EtcdClient, "/health")},
		{BinKubeAPIServer, l.apiserverArgs(), ""},
		{BinControllerManager, l.controllerManagerArgs(), h(l.Ports.ControllerManager, "/healthz")},
		{BinScheduler, l.schedulerArgs(), h(l.Ports.Scheduler, "/healthz")},
		{BinKwok, l.kwokArgs(), h(l.Ports.Kwok, "/healthz")},
	}
}
