package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the name of the state file Start keeps in Options.Dir.
const StateFile = "state.json"

// State is what Start records in Dir/state.json, rewritten after every process
// start, so another process (handover sandbox down) can stop the cluster by
// PID even when the starter crashed half-way.
type State struct {
	// Kubeconfig is the admin kubeconfig path (client certificate embedded,
	// mode 0600).
	Kubeconfig string `json:"kubeconfig"`
	// APIServerURL is https://127.0.0.1:<port>.
	APIServerURL string `json:"apiServerURL"`
	// EtcdURL is https://127.0.0.1:<port> (mutual TLS, see Cluster.Files).
	EtcdURL string `json:"etcdURL"`
	// Ready is true once every component passed its readiness check.
	Ready bool `json:"ready"`
	// Processes in start order: etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler, kwok.
	Processes []Process `json:"processes"`
}

// ReadState reads dir/state.json. A missing file yields an error satisfying
// errors.Is(err, os.ErrNotExist).
func ReadState(dir string) (State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return State{}, fmt.Errorf("read cluster state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// writeState replaces dir/state.json atomically (write, then rename).
func writeState(dir string, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}

// AnyRunning reports whether any process recorded in s is still Running.
func (s State) AnyRunning() bool {
	for _, p := range s.Processes {
		if Running(p) {
			return true
		}
	}
	return false
}
