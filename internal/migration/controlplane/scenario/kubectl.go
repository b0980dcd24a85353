package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/handover-dev/handover/internal/migration/controlplane/localcp"
)

func (k *kubectlLoop) run(ctx context.Context) {
	for i := 0; i < k.max && ctx.Err() == nil; i++ {
		// get --raw skips discovery: one LIST per run, over a new
		// connection from a new process, like a script's kubectl call.
		args := []string{"get", "--raw", "/api/v1/namespaces/" + k.ns + "/configmaps?limit=1"}
		if k.write {
			// A create through kubectl's own client-go: what a script or
			// a CI job writing to the cluster sees.
			args = []string{"create", "configmap", fmt.Sprintf("kubectl-%04d", i), "-n", k.ns, "--from-literal=v=" + strconv.Itoa(i)}
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		cmd := exec.CommandContext(cctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--request-timeout=30s"}, args...)...) //nolint:gosec // G204: our binary and args
		cmd.Env = append(os.Environ(), "HTTPS_PROXY="+k.proxy, "NO_PROXY=")
		out, err := cmd.CombinedOutput()
		cancel()
		if ctx.Err() != nil {
			return // cut short by the end of the run: not counted
		}
		k.runs.Add(1)
		if err != nil {
			k.errs.Add(1)
			msg := fmt.Sprintf("%v: %s", err, lastLine(string(out)))
			k.example.CompareAndSwap(nil, &msg)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(k.every):
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// writeKubeconfig writes a kubeconfig for https://NAME:PORT as Files.User,
// a cluster admin outside system:masters (client certificate by path; mode
// 0600).
func writeKubeconfig(dir string, l *localcp.Local) (string, error) {
	server := "https://" + l.Endpoint.Name + ":" + strconv.Itoa(l.Endpoint.Port)
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"cp": {Server: server, CertificateAuthority: l.Files.CA.Cert}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificate: l.Files.User.Cert, ClientKey: l.Files.User.Key}},
		Contexts:       map[string]*clientcmdapi.Context{"cp": {Cluster: "cp", AuthInfo: "admin"}},
		CurrentContext: "cp",
	}
	p := filepath.Join(dir, "kubectl.kubeconfig")
	return p, clientcmd.WriteToFile(cfg, p)
}
