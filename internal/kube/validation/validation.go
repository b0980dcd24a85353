// Package validation is the one validation path of a CertificateAuthority
// spec, shared by the controller (conditions), the Kubernetes backend
// (New) and the CLI: every finding is a field.Error (apimachinery) naming
// the JSON path of the offending field. It is pure: nothing here reads the
// API. What needs the API (namespaces, workloads, the source Secret,
// ownership) is checked where it is read.
//
// The CRD's OpenAPI and CEL rules reject most of this already; the checks
// are repeated here for objects stored before a rule existed (or written to
// etcd directly), which the controller must report on that one object
// instead of failing.
package validation

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Duration ranges, the same as the CRD's CEL rules.
const (
	MinPropagation     = time.Second
	MaxPropagation     = time.Hour
	MaxGrace           = 720 * time.Hour
	MinCADuration      = time.Hour
	MaxDuration        = 87600 * time.Hour
	MinRenewBefore     = time.Minute
	MinRenewalInterval = time.Hour // duration - renewBefore
	MinLeafDuration    = 5 * time.Minute
)

// Defaults the CRD applies; used when a field is unset (an object created
// before the default existed).
const (
	DefaultCADuration  = 8760 * time.Hour
	DefaultRenewBefore = 720 * time.Hour
)

// Scope checks that a namespaced CertificateAuthority acts only in its own
// namespace: every spec.trustBundles[].namespace, spec.certificates[].namespace
// and spec.consumers[].namespace is empty or metadata.namespace. Each other
// value is a field.Forbidden error.
func Scope(ca *v1alpha1.CertificateAuthority) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	check := func(p *field.Path, ns string) {
		if ns != "" && ns != ca.Namespace {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(
				"%q: a CertificateAuthority acts only in its own namespace %q (reads, writes, issues, restarts and evicts there only)",
				ns, ca.Namespace)))
		}
	}
	for i, t := range ca.Spec.TrustBundles {
		check(spec.Child("trustBundles").Index(i).Child("namespace"), t.Namespace)
	}
	for i, c := range ca.Spec.Certificates {
		check(spec.Child("certificates").Index(i).Child("namespace"), c.Namespace)
	}
	for i, c := range ca.Spec.Consumers {
		check(spec.Child("consumers").Index(i).Child("namespace"), c.Namespace)
	}
	return errs
}

// Spec checks ca's spec and returns every error in field order (nil when
// valid): durations that parse and lie in range (renewBefore shorter than
// duration by at least MinRenewalInterval), bundlePolicy.maxCAs of 2 in
// Managed mode (a staged rotation publishes [new, previous]), exactly one
// source, object names, namespaces and data keys Kubernetes accepts, no
// data key written twice, no target that is the source Secret or the
// managed copy, leaves with at least one name and valid DNS names, IP
// addresses, URIs, usages and algorithms, consumers with a unique name,
// a known kind and reload policy, exactly one of workloadName or a
// non-empty, valid selector, and a host:port probe address.
func Spec(ca *v1alpha1.CertificateAuthority) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	s := &ca.Spec
	errs = append(errs, durationIn(spec.Child("propagationTimeout"), s.PropagationTimeout, MinPropagation, MaxPropagation)...)
	errs = append(errs, durationIn(spec.Child("gracePeriod"), s.GracePeriod, 0, MaxGrace)...)
	if s.BundlePolicy.MaxCAs == 1 && s.Mode != v1alpha1.ModeLegacy {
		errs = append(errs, field.Invalid(spec.Child("bundlePolicy", "maxCAs"), 1,
			"1 leaves no room for the [new, previous] overlap a Managed rotation publishes; use 2, or mode Legacy"))
	}
	copyName := v1alpha1.CopySecretName(ca)
	protected := map[objectKey]string{{"Secret", ca.Namespace, copyName}: "the managed copy of the CA (it holds the CA key)"}
	src := spec.Child("source")
	switch {
	case s.Source.Generate != nil && s.Source.SecretRef != nil, s.Source.Generate == nil && s.Source.SecretRef == nil:
		errs = append(errs, field.Required(src, "set exactly one of generate or secretRef"))
	case s.Source.Generate != nil:
		errs = append(errs, generate(src.Child("generate"), s.Source.Generate)...)
	default:
		ref := s.Source.SecretRef
		p := src.Child("secretRef", "name")
		errs = append(errs, name(p, ref.Name)...)
		if ref.Name == copyName {
			errs = append(errs, field.Invalid(p, ref.Name, "is the managed copy handover writes; name the external root"))
		}
		protected[objectKey{"Secret", ca.Namespace, ref.Name}] = "the source Secret (spec.source.secretRef.name)"
	}
	seen := map[objectKey]string{}
	errs = append(errs, trustBundles(ca, spec.Child("trustBundles"), protected, seen)...)
	errs = append(errs, certificates(ca, spec.Child("certificates"), protected, seen)...)
	errs = append(errs, consumers(ca, spec.Child("consumers"))...)
	return errs
}

type objectKey struct{ kind, ns, name string }

func generate(p *field.Path, g *v1alpha1.GenerateSource) field.ErrorList {
	errs := durationIn(p.Child("duration"), g.Duration, MinCADuration, MaxDuration)
	errs = append(errs, durationIn(p.Child("renewBefore"), g.RenewBefore, MinRenewBefore, MaxDuration)...)
	if g.SecretName != "" {
		errs = append(errs, name(p.Child("secretName"), g.SecretName)...)
	}
	if g.Duration.Err() == nil && g.RenewBefore.Err() == nil {
		d, r := Or(g.Duration, DefaultCADuration), Or(g.RenewBefore, DefaultRenewBefore)
		if d-r < MinRenewalInterval {
			errs = append(errs, field.Invalid(p.Child("renewBefore"), r.String(),
				fmt.Sprintf("must be shorter than duration %s by at least %s (the time between two renewals)", d, MinRenewalInterval)))
		}
	}
	return errs
}

func trustBundles(ca *v1alpha1.CertificateAuthority, p *field.Path, protected, seen map[objectKey]string) field.ErrorList {
	var errs field.ErrorList
	for i, t := range ca.Spec.TrustBundles {
		f := p.Index(i)
		if t.Kind != v1alpha1.TargetSecret && t.Kind != v1alpha1.TargetConfigMap {
			errs = append(errs, field.NotSupported(f.Child("kind"), t.Kind, []string{string(v1alpha1.TargetSecret), string(v1alpha1.TargetConfigMap)}))
		}
		errs = append(errs, name(f.Child("name"), t.Name)...)
		ns := Namespace(t.Namespace, ca.Namespace)
		errs = append(errs, namespace(f.Child("namespace"), t.Namespace)...)
		key := KeyOr(t.Key, "ca.crt")
		for _, msg := range k8svalidation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(f.Child("key"), key, msg))
		}
		k := objectKey{string(t.Kind), ns, t.Name}
		if what, ok := protected[k]; ok {
			errs = append(errs, field.Invalid(f.Child("name"), t.Name, fmt.Sprintf("%s %s/%s is %s", t.Kind, ns, t.Name, what)))
		}
		withKey := objectKey{k.kind, k.ns, k.name + "/" + key}
		if prev, ok := seen[withKey]; ok {
			errs = append(errs, field.Duplicate(f, fmt.Sprintf("%s %s/%s key %s is also written by %s", t.Kind, ns, t.Name, key, prev)))
		}
		seen[withKey] = f.String()
	}
	return errs
}

func certificates(ca *v1alpha1.CertificateAuthority, p *field.Path, protected, seen map[objectKey]string) field.ErrorList {
	var errs field.ErrorList
	for i, c := range ca.Spec.Certificates {
		f := p.Index(i)
		errs = append(errs, name(f.Child("secretName"), c.SecretName)...)
		errs = append(errs, namespace(f.Child("namespace"), c.Namespace)...)
		k := objectKey{"Secret", Namespace(c.Namespace, ca.Namespace), c.SecretName}
		if what, ok := protected[k]; ok {
			errs = append(errs, field.Invalid(f.Child("secretName"), c.SecretName, fmt.Sprintf("Secret %s/%s is %s", k.ns, k.name, what)))
		}
		for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
			kk := objectKey{k.kind, k.ns, k.name + "/" + key}
			if prev, ok := seen[kk]; ok {
				errs = append(errs, field.Duplicate(f.Child("secretName"), fmt.Sprintf("Secret %s/%s key %s is also written by %s", k.ns, k.name, key, prev)))
			}
			seen[kk] = f.String()
		}
		if c.CommonName == "" && len(c.DNSNames) == 0 && len(c.IPAddresses) == 0 && len(c.URIs) == 0 {
			errs = append(errs, field.Required(f, "needs at least one of commonName, dnsNames, ipAddresses or uris"))
		}
		for j, n := range c.DNSNames {
			if msgs := dnsName(n); len(msgs) > 0 {
				errs = append(errs, field.Invalid(f.Child("dnsNames").Index(j), n, strings.Join(msgs, "; ")))
			}
		}
		for j, ip := range c.IPAddresses {
			if net.ParseIP(ip) == nil {
				errs = append(errs, field.Invalid(f.Child("ipAddresses").Index(j), ip, "not an IP address"))
			}
		}
		for j, u := range c.URIs {
			if pu, err := url.Parse(u); err != nil || pu.Scheme == "" {
				errs = append(errs, field.Invalid(f.Child("uris").Index(j), u, "not an absolute URI"))
			}
		}
		for j, u := range c.Usages {
			if u != v1alpha1.UsageServer && u != v1alpha1.UsageClient {
				errs = append(errs, field.NotSupported(f.Child("usages").Index(j), u, []string{string(v1alpha1.UsageServer), string(v1alpha1.UsageClient)}))
			}
		}
		errs = append(errs, algorithm(f.Child("algorithm"), c.Algorithm)...)
		errs = append(errs, durationIn(f.Child("duration"), c.Duration, MinLeafDuration, MaxDuration)...)
	}
	return errs
}

func consumers(ca *v1alpha1.CertificateAuthority, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]string{}
	for i, c := range ca.Spec.Consumers {
		f := p.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(f.Child("name"), ""))
		} else if prev, ok := seen[c.Name]; ok {
			errs = append(errs, field.Duplicate(f.Child("name"), fmt.Sprintf("%s (also %s)", c.Name, prev)))
		}
		seen[c.Name] = f.String()
		switch c.Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
		default:
			errs = append(errs, field.NotSupported(f.Child("kind"), c.Kind, []string{"Deployment", "StatefulSet", "DaemonSet"}))
		}
		switch c.Reload {
		case v1alpha1.ReloadHot, v1alpha1.ReloadRolloutRestart, v1alpha1.ReloadEvict:
		default:
			errs = append(errs, field.NotSupported(f.Child("reload"), c.Reload, []string{string(v1alpha1.ReloadHot), string(v1alpha1.ReloadRolloutRestart), string(v1alpha1.ReloadEvict)}))
		}
		if c.Wave < 0 {
			errs = append(errs, field.Invalid(f.Child("wave"), c.Wave, "must not be negative"))
		}
		errs = append(errs, namespace(f.Child("namespace"), c.Namespace)...)
		switch {
		case (c.WorkloadName == "") == (c.Selector == nil):
			errs = append(errs, field.Required(f, "set exactly one of workloadName or selector"))
		case c.Selector != nil:
			sel, err := metav1.LabelSelectorAsSelector(c.Selector)
			switch {
			case err != nil:
				errs = append(errs, field.Invalid(f.Child("selector"), c.Selector.String(), err.Error()))
			case sel.Empty():
				errs = append(errs, field.Invalid(f.Child("selector"), "", fmt.Sprintf("is empty and would select every %s", c.Kind)))
			}
		default:
			errs = append(errs, name(f.Child("workloadName"), c.WorkloadName)...)
		}
		if c.Probe != nil {
			errs = append(errs, probe(f.Child("probe"), c.Probe)...)
		}
	}
	return errs
}

// probe checks a consumer probe: exactly one of address (host:port) and
// service (a DNS-1035 label, a Service name); port only with service.
func probe(p *field.Path, pr *v1alpha1.ConsumerProbe) field.ErrorList {
	var errs field.ErrorList
	switch {
	case (pr.Address == "") == (pr.Service == ""):
		errs = append(errs, field.Required(p, "set exactly one of address or service"))
	case pr.Address != "":
		if _, _, err := net.SplitHostPort(pr.Address); err != nil {
			errs = append(errs, field.Invalid(p.Child("address"), pr.Address, fmt.Sprintf("not host:port: %v", err)))
		}
		if pr.Port != "" {
			errs = append(errs, field.Forbidden(p.Child("port"), "only with service (address carries its own port)"))
		}
	default:
		for _, msg := range k8svalidation.IsDNS1035Label(pr.Service) {
			errs = append(errs, field.Invalid(p.Child("service"), pr.Service, msg))
		}
		if pr.Port != "" {
			for _, msg := range k8svalidation.IsValidPortName(pr.Port) {
				errs = append(errs, field.Invalid(p.Child("port"), pr.Port, msg))
			}
		}
	}
	return errs
}

// durationIn checks that d (nil = unset, the CRD default applies) parses
// and lies in [lo, hi].
func durationIn(p *field.Path, d *v1alpha1.Duration, lo, hi time.Duration) field.ErrorList {
	if d == nil {
		return nil
	}
	if err := d.Err(); err != nil {
		return field.ErrorList{field.Invalid(p, d.Invalid(), "not a duration (Go syntax, e.g. 90s, 1h30m, 8760h)")}
	}
	if d.Duration < lo || d.Duration > hi {
		return field.ErrorList{field.Invalid(p, d.Duration.String(), fmt.Sprintf("must be between %s and %s", lo, hi))}
	}
	return nil
}

func name(p *field.Path, n string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range k8svalidation.IsDNS1123Subdomain(n) {
		errs = append(errs, field.Invalid(p, n, msg))
	}
	return errs
}

func namespace(p *field.Path, ns string) field.ErrorList {
	if ns == "" {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range k8svalidation.IsDNS1123Label(ns) {
		errs = append(errs, field.Invalid(p, ns, msg))
	}
	return errs
}

// dnsName checks a subjectAltName DNS entry: an RFC 1123 subdomain, with an
// optional leading "*." wildcard; case-insensitive (RFC 4343).
func dnsName(n string) []string {
	n = strings.ToLower(n)
	if strings.HasPrefix(n, "*.") {
		return k8svalidation.IsWildcardDNS1123Subdomain(n)
	}
	return k8svalidation.IsDNS1123Subdomain(n)
}

func algorithm(p *field.Path, a v1alpha1.KeyAlgorithm) field.ErrorList {
	switch a {
	case "", v1alpha1.KeyAlgorithmECDSAP256, v1alpha1.KeyAlgorithmRSA2048, v1alpha1.KeyAlgorithmRSA3072,
		v1alpha1.KeyAlgorithmRSA4096, v1alpha1.KeyAlgorithmEd25519:
		return nil
	}
	return field.ErrorList{field.NotSupported(p, a, []string{string(v1alpha1.KeyAlgorithmECDSAP256), string(v1alpha1.KeyAlgorithmRSA2048),
		string(v1alpha1.KeyAlgorithmRSA3072), string(v1alpha1.KeyAlgorithmRSA4096), string(v1alpha1.KeyAlgorithmEd25519)})}
}

// Or returns d's value, or def when d is unset, zero or invalid.
func Or(d *v1alpha1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration == 0 {
		return def
	}
	return d.Duration
}

// Namespace returns ns, or def when ns is empty.
func Namespace(ns, def string) string {
	if ns == "" {
		return def
	}
	return ns
}

// KeyOr returns k, or def when k is empty.
func KeyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}
