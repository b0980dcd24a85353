package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

func TestCheckHosts(t *testing.T) {
	t.Parallel()
	lookup := func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "etcd-1.example":
			return []string{"198.18.0.1"}, nil
		case "empty.example":
			return nil, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		name   string
		target etcdmig.Target
		want   string
	}{
		{"ip literals", etcdmig.Target{Name: "t1", PeerURL: "http://127.0.0.1:2380", ClientURL: "https://[::1]:2379"}, ""},
		{"resolvable", etcdmig.Target{Name: "t1", PeerURL: "http://etcd-1.example:2380", ClientURL: "http://etcd-1.example:2379"}, ""},
		{"unresolvable peer", etcdmig.Target{Name: "t2", PeerURL: "http://nope.invalid:2380", ClientURL: "http://127.0.0.1:2379"},
			`flag --to: target "t2" peer URL "http://nope.invalid:2380": host "nope.invalid" does not resolve: no such host`},
		{"no addresses", etcdmig.Target{Name: "t3", PeerURL: "http://127.0.0.1:2380", ClientURL: "http://empty.example:2379"},
			`target "t3" client URL "http://empty.example:2379": host "empty.example" does not resolve: no addresses`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkHosts(context.Background(), []etcdmig.Target{tc.target}, lookup)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
