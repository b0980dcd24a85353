package backend

import (
	"reflect"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestReadyEndpoints(t *testing.T) {
	t.Parallel()
	port := func(name string, n int32) discoveryv1.EndpointPort {
		return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(n)}
	}
	ep := func(ready *bool, addrs ...string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	slice := func(name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name}, Ports: ports, Endpoints: eps}
	}
	one := []discoveryv1.EndpointPort{port("mtls", 8443)}
	two := []discoveryv1.EndpointPort{port("http", 8080), port("mtls", 8443)}
	tests := []struct {
		name    string
		slices  []discoveryv1.EndpointSlice
		port    string
		want    []string
		wantErr string
	}{
		{"none", nil, "", nil, ""},
		{"one port, ready unset counts as ready", []discoveryv1.EndpointSlice{slice("a", one, ep(nil, "198.18.0.3"), ep(ptr.To(true), "198.18.0.2"))}, "",
			[]string{"198.18.0.2:8443", "198.18.0.3:8443"}, ""},
		{"not ready and address-less endpoints skipped", []discoveryv1.EndpointSlice{slice("a", one, ep(ptr.To(false), "198.18.0.4"), ep(nil), ep(nil, "198.18.0.5"))}, "",
			[]string{"198.18.0.5:8443"}, ""},
		{"named port among several", []discoveryv1.EndpointSlice{slice("a", two, ep(nil, "198.18.0.2"))}, "mtls", []string{"198.18.0.2:8443"}, ""},
		{"several ports, none named", []discoveryv1.EndpointSlice{slice("a", two, ep(nil, "198.18.0.2"))}, "", nil, `set probe.port to one of their names`},
		{"named port missing", []discoveryv1.EndpointSlice{slice("a", one, ep(nil, "198.18.0.2"))}, "grpc", nil, `no port named "grpc"`},
		{"first address of an endpoint; duplicates across slices once", []discoveryv1.EndpointSlice{
			slice("a", one, ep(nil, "198.18.0.2", "198.18.0.9")),
			slice("b", one, ep(nil, "198.18.0.2")),
		}, "", []string{"198.18.0.2:8443"}, ""},
		{"each slice its own port", []discoveryv1.EndpointSlice{
			slice("a", []discoveryv1.EndpointPort{port("", 1001)}, ep(nil, "127.0.0.1")),
			slice("b", []discoveryv1.EndpointPort{port("", 1002)}, ep(nil, "127.0.0.1")),
		}, "", []string{"127.0.0.1:1001", "127.0.0.1:1002"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readyEndpoints(tt.slices, tt.port)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("readyEndpoints = %v, want %v", got, tt.want)
			}
		})
	}
}
