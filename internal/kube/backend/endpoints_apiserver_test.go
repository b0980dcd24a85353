package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
)

// testVerifyByServiceEndpoints: two replicas, one already trusting the next
// CA. A balancer that happens to reach only that one lets an address probe
// pass; the probe by Service dials each ready endpoint and does not.
func testVerifyByServiceEndpoints(t *testing.T, c client.Client) {
	ctx := ctxT(t)
	const ns = "endpoints"
	mkNamespace(t, c, ns)
	createRolledOut(t, c, ns, "web", 2)
	old, next := newCA(t, "old"), newCA(t, "next")
	podA := startTLSServer(t, serverLeaf(t, old, "web.endpoints.svc"), old, next)
	podB := startTLSServer(t, serverLeaf(t, old, "web.endpoints.svc"), old)
	// Envtest runs no EndpointSlice controller: the slices are written as
	// it would, one per pod, each with its pod's port. The API refuses
	// loopback endpoint addresses, so the slices say 198.18.0.2 and the
	// probe's dialer maps it to 127.0.0.1 (no packet leaves loopback).
	slice := func(name, addr string, ready bool) *discoveryv1.EndpointSlice {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(p)
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("mtls"), Port: ptr.To(int32(n))}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
		}
	}
	sliceA, sliceB := slice("web-a", podA.addr(), true), slice("web-b", podB.addr(), false)
	for _, s := range []*discoveryv1.EndpointSlice{sliceA, sliceB} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	spec := v1alpha1.CertificateAuthoritySpec{
		TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "bundle"}},
		Consumers: []v1alpha1.Consumer{
			{Name: "balanced", Kind: "Deployment", WorkloadName: "web", Reload: v1alpha1.ReloadHot,
				Probe: &v1alpha1.ConsumerProbe{Address: roundRobin(t, podA.addr()), ServerName: "web.endpoints.svc"}},
			// ServerName defaults to web.endpoints.svc.
			{Name: "perpod", Kind: "Deployment", WorkloadName: "web", Reload: v1alpha1.ReloadHot,
				Probe: &v1alpha1.ConsumerProbe{Service: "web", Port: "mtls"}},
		},
	}
	opts := Options{ProbeTimeout: 2 * time.Second, Dial: toLoopback(t)}
	b := mustNew(t, c, newCAObject(ns, spec), opts)
	if err := b.PublishTrustBundle(ctx, bundleOf(next, old)); err != nil {
		t.Fatal(err)
	}
	cs, err := b.Consumers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]rotation.Consumer{}
	for _, x := range cs {
		byName[x.Name] = x
	}
	nextProbe := probeLeaf(t, next)

	if err := b.VerifyAcceptsCA(ctx, byName["balanced"], nextProbe); err != nil {
		t.Fatalf("the balancer reaches only pod A, which accepts next: %v", err)
	}
	// Pod B is not ready: one ready endpoint for two replicas holds the gate.
	err = b.VerifyAcceptsCA(ctx, byName["perpod"], nextProbe)
	if err == nil || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "1 ready endpoints for 2 replicas") {
		t.Fatalf("pod B not ready: %v, want a plain error about the ready endpoints", err)
	}
	sliceB.Endpoints[0].Conditions.Ready = ptr.To(true)
	if err := c.Update(ctx, sliceB); err != nil {
		t.Fatal(err)
	}
	a0, b0 := podA.accepted.Load(), podB.accepted.Load()
	err = b.VerifyAcceptsCA(ctx, byName["perpod"], nextProbe)
	if err == nil || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "2 of 4 handshakes succeeded") {
		t.Fatalf("pod B rejects next: %v, want a plain error with 2 of 4 accepted", err)
	}
	if a, bb := podA.accepted.Load()-a0, podB.accepted.Load()-b0; a != 2 || bb != 0 {
		t.Errorf("handshakes accepted: pod A %d (want 2), pod B %d (want 0)", a, bb)
	}
	// Both pods accept old; the server name is the Service's default.
	b0 = podB.accepted.Load()
	if err := b.VerifyAcceptsCA(ctx, byName["perpod"], probeLeaf(t, old)); err != nil {
		t.Fatalf("both pods accept old: %v", err)
	}
	if n := podB.accepted.Load() - b0; n != 2 {
		t.Errorf("pod B accepted %d handshakes, want 2 (each endpoint twice)", n)
	}
	// A port name the slices do not have is a plain error naming the field.
	spec.Consumers[1].Probe.Port = "grpc"
	b2 := mustNew(t, c, newCAObject(ns, spec), opts)
	err = b2.VerifyAcceptsCA(ctx, byName["perpod"], nextProbe)
	if err == nil || !strings.Contains(err.Error(), `spec.consumers[1].probe`) || !strings.Contains(err.Error(), `no port named "grpc"`) {
		t.Fatalf("unknown port: %v", err)
	}
}

// toLoopback dials 198.18.0.2:port as 127.0.0.1:port and refuses any other
// address, so a probe can never reach past loopback.
func toLoopback(t *testing.T) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		switch host {
		case "198.18.0.2":
			host = "127.0.0.1"
		case "127.0.0.1":
		default:
			t.Errorf("probe dialed %s", addr)
			return nil, fmt.Errorf("test dialer: %s is not a test address", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
}
