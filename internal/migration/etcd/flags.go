package etcd

import (
	"path/filepath"
	"strings"
)

// EtcdFlags returns the etcd command-line flags that start spec's member
// with its data in dataDir (etcd docs: configuration flags). The order is
// fixed so the result can be golden-tested.
func EtcdFlags(spec MemberSpec, dataDir string) []string {
	state := spec.ClusterState
	if state == "" {
		state = "existing"
	}
	listenPeer := spec.PeerURL
	if spec.ListenPeerURL != "" {
		listenPeer = spec.ListenPeerURL
	}
	f := []string{
		"--name=" + spec.Name,
		"--data-dir=" + filepath.Clean(dataDir),
		"--listen-peer-urls=" + listenPeer,
		"--initial-advertise-peer-urls=" + spec.PeerURL,
		"--listen-client-urls=" + spec.ClientURL,
		"--advertise-client-urls=" + spec.ClientURL,
		"--initial-cluster=" + spec.InitialCluster,
		"--initial-cluster-state=" + state,
	}
	if spec.ClusterToken != "" {
		f = append(f, "--initial-cluster-token="+spec.ClusterToken)
	}
	if t := spec.TLS; t != nil {
		f = append(f, "--cert-file="+t.CertFile, "--key-file="+t.KeyFile)
		if t.TrustedCAFile != "" {
			f = append(f, "--trusted-ca-file="+t.TrustedCAFile)
		}
		if t.ClientCertAuth {
			f = append(f, "--client-cert-auth")
		}
		if strings.HasPrefix(spec.PeerURL, "https") {
			f = append(f, "--peer-cert-file="+t.CertFile, "--peer-key-file="+t.KeyFile)
			if t.TrustedCAFile != "" {
				f = append(f, "--peer-trusted-ca-file="+t.TrustedCAFile, "--peer-client-cert-auth")
			}
		}
	}
	return append(f, spec.Flags...)
}
