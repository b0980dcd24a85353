// Package endpointdns keeps the DNS record of a control plane's stable
// endpoint name (the name in every kubeconfig and in both apiservers'
// serving certificates) behind a small interface, Record, with two
// implementations:
//
//   - Server: an embedded authoritative DNS server (github.com/miekg/dns)
//     on 127.0.0.1 that answers A queries for the name with a real TTL, for
//     the demo and tests;
//   - Exec: a user's commands (e.g. their DNS provider's CLI).
//
// Clients resolve the name through a Resolver, a caching stub resolver that
// keeps an answer for its TTL as a recursive resolver or a node-local cache
// would (RFC 1035 §3.2.1, RFC 2181 §8), so a record switch reaches a client
// only when its cached answer expires: the reason a cutover waits 2·TTL+1
// before it stops the old apiserver.
package endpointdns
