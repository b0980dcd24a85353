// Package kubeprobe is the kube-apiserver probe kind: what API clients see
// while the apiserver behind a stable endpoint name changes. It resolves
// the name through the caller's dialer (endpointdns.Resolver.DialContext),
// as a real client does, and offers four views:
//
//   - Fresh ("kube-fresh"): a new TCP+TLS connection per attempt, a LIST of
//     one ConfigMap (what a new client, kubectl or a restarted pod sees); a
//     429 with Retry-After (kube-apiserver's --shutdown-send-retry-after) is
//     retried after the advertised delay, as client-go does;
//   - Long ("kube-long"): the same LIST through one long-lived client-go
//     clientset over HTTP/2 (what controllers and kubelets see: the
//     connection is kept until GOAWAY or close);
//   - Writer ("kube-create"): creates a ConfigMap per attempt through the
//     long-lived client and records the acknowledged ones;
//   - Watch: a watch on the probe namespace that resumes from its last
//     resourceVersion when its stream ends and relists on 410 Gone,
//     counting resumes, relists and gaps.
//
// Result verifies at the end: every acknowledged write present in a final
// LIST, and delivered by the watch.
package kubeprobe
