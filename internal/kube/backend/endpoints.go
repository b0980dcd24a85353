package backend

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// probeTargets resolves where the probe of cs dials and the name it
// verifies. With probe.address: that address, replicas-times (at least
// twice); the server name defaults to the address's host (probe.MTLS).
// With probe.service: every ready endpoint of the Service's EndpointSlices
// (discovery.k8s.io/v1, label kubernetes.io/service-name), twice each, and
// the server name defaults to <service>.<namespace>.svc.
//
// Errors (all plain, so a gate retries until its timeout): no EndpointSlice
// or no ready endpoint; fewer ready endpoints than replicas (a replica that
// is not ready yet is not verified, and passing without it could switch
// leaves it does not trust); a port that is not the slice's (probe.port
// empty with several ports, or naming none of them).
func (b *Backend) probeTargets(ctx context.Context, cs *consumerSpec, replicas int) (addrs []string, serverName string, err error) {
	p := cs.spec.Probe
	if p.Service == "" {
		n := max(2, 2*replicas)
		addrs = make([]string, n)
		for i := range addrs {
			addrs[i] = p.Address
		}
		return addrs, p.ServerName, nil
	}
	serverName = p.ServerName
	if serverName == "" {
		serverName = p.Service + "." + cs.namespace + ".svc"
	}
	var slices discoveryv1.EndpointSliceList
	if err := b.reader.List(ctx, &slices, client.InNamespace(cs.namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: p.Service}); err != nil {
		return nil, "", fmt.Errorf("%s.probe.service: list EndpointSlices of Service %s/%s: %w", cs.field, cs.namespace, p.Service, err)
	}
	ready, err := readyEndpoints(slices.Items, p.Port)
	if err != nil {
		return nil, "", fmt.Errorf("%s.probe: Service %s/%s: %w", cs.field, cs.namespace, p.Service, err)
	}
	switch {
	case len(ready) == 0:
		return nil, "", fmt.Errorf("%s.probe.service: Service %s/%s has no ready endpoint", cs.field, cs.namespace, p.Service)
	case len(ready) < replicas:
		return nil, "", fmt.Errorf("%s.probe.service: Service %s/%s has %d ready endpoints for %d replicas: waiting for every replica", cs.field, cs.namespace, p.Service, len(ready), replicas)
	}
	for _, a := range ready {
		addrs = append(addrs, a, a)
	}
	return addrs, serverName, nil
}

// readyEndpoints returns "ip:port" of every ready endpoint of slices
// (sorted, each address once; an endpoint's addresses are fungible, so its
// first is used; Ready unset counts as ready, as the EndpointSlice API
// says). port names the slice port; "" takes a slice's only port. A slice
// whose ports do not hold it is an error naming the ports it has.
func readyEndpoints(slices []discoveryv1.EndpointSlice, port string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, s := range slices {
		n, err := slicePort(s, port)
		if err != nil {
			return nil, err
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 || (e.Conditions.Ready != nil && !*e.Conditions.Ready) {
				continue
			}
			a := net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(n)))
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func slicePort(s discoveryv1.EndpointSlice, name string) (int32, error) {
	var names []string
	for _, p := range s.Ports {
		if p.Port == nil {
			continue
		}
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		names = append(names, strconv.Quote(pn))
		if (name == "" && len(s.Ports) == 1) || (name != "" && pn == name) {
			return *p.Port, nil
		}
	}
	if name == "" {
		return 0, fmt.Errorf("port: EndpointSlice %s has ports %v: set probe.port to one of their names", s.Name, names)
	}
	return 0, fmt.Errorf("port: EndpointSlice %s has no port named %q (it has %v)", s.Name, name, names)
}
