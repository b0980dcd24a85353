package ca

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/trust"
)

// IssueOptions are the inputs of `handover ca issue`.
type IssueOptions struct {
	KeyPairFiles
	CACert, CAKey  string
	CommonName     string
	DNS, IPs, URIs []string
	Usage          []string // "server", "client"
	Chain          bool     // write leaf then issuer to OutCert
}

func newIssueCommand(clk clock.PassiveClock) *cobra.Command {
	o := &IssueOptions{KeyPairFiles: KeyPairFiles{Clock: clk}}
	cmd := keyPairCommand(&cobra.Command{
		Use:   "issue --ca-cert CA.pem --ca-key CA.key --out-cert LEAF.pem --out-key LEAF.key",
		Short: "Issue a server and/or client certificate signed by a CA",
		Long: `Issue a leaf certificate signed by the CA in --ca-cert/--ca-key.

The CA is checked first: it must be a CA (BasicConstraints CA:TRUE, KeyUsage
keyCertSign), valid at --now, and the key must be the certificate's key.
--usage sets ExtKeyUsage (server = serverAuth, client = clientAuth; RFC 5280
§4.2.1.12). A server certificate needs at least one --dns, --ip or --uri SAN,
since TLS clients check SANs, not the common name. Validity is clamped to the
CA's notAfter. The leaf key (PKCS#8, mode 0600) is never printed.`,
		Example: `  handover ca issue --ca-cert ca.pem --ca-key ca.key --cn web --dns web.local,web \
      --ip 127.0.0.1 --usage server --out-cert web.pem --out-key web.key
  handover ca issue --ca-cert ca.pem --ca-key ca.key --cn probe --usage client \
      --out-cert probe.pem --out-key probe.key`,
	}, &o.KeyPairFiles, "leaf", trust.DefaultLeafValidity, "how long the leaf is valid (clamped to the CA's notAfter)",
		func(ctx context.Context) error { return runIssue(ctx, o) })
	f := cmd.Flags()
	f.StringVar(&o.CACert, "ca-cert", "", "PEM file with the issuing CA certificate (required)")
	f.StringVar(&o.CAKey, "ca-key", "", "PEM file with the issuing CA key: PKCS#8, PKCS#1 or SEC1 (required)")
	f.StringVar(&o.CommonName, "cn", "", "subject common name")
	f.StringSliceVar(&o.DNS, "dns", nil, "DNS SANs (comma-separated or repeated)")
	f.StringSliceVar(&o.IPs, "ip", nil, "IP address SANs (comma-separated or repeated)")
	f.StringSliceVar(&o.URIs, "uri", nil, "URI SANs, e.g. spiffe://domain/workload (comma-separated or repeated)")
	f.StringSliceVar(&o.Usage, "usage", []string{"server"}, `what the certificate is for: "server", "client" or "server,client"`)
	f.BoolVar(&o.Chain, "chain", false, "write the leaf followed by the CA certificate to --out-cert")
	_ = cmd.MarkFlagRequired("ca-cert")
	_ = cmd.MarkFlagRequired("ca-key")
	return cmd
}

func runIssue(ctx context.Context, o *IssueOptions) error {
	now, err := o.issueTime()
	if err != nil {
		return err
	}
	opts, err := leafOptions(o)
	if err != nil {
		return err
	}
	certPEM, err := readInput(ctx, "--ca-cert", o.CACert)
	if err != nil {
		return err
	}
	keyPEM, err := readInput(ctx, "--ca-key", o.CAKey)
	if err != nil {
		return err
	}
	// Parse each file alone first so a format error names exactly one file.
	if _, err := trust.ParseCertificates(certPEM); err != nil {
		return fmt.Errorf("%s: %w", source("--ca-cert", o.CACert), err)
	}
	if _, err := trust.ParsePrivateKey(keyPEM); err != nil {
		return fmt.Errorf("%s: %w", source("--ca-key", o.CAKey), err)
	}
	ca, err := trust.ParseCA(certPEM, keyPEM, now)
	if err != nil {
		return fmt.Errorf("--ca-cert %q / --ca-key %q: %w", o.CACert, o.CAKey, err)
	}
	leaf, err := ca.IssueLeaf(opts, now)
	if err != nil {
		return fmt.Errorf("issue leaf: %w", err)
	}
	certOut := leaf.CertPEM
	if o.Chain {
		certOut = leaf.ChainPEM
	}
	return o.write(certOut, leaf.KeyPEM, fmt.Sprintf("issued %s leaf %s by CA %s, valid %s to %s",
		opts.Usage, trust.RefOf(leaf.Cert), trust.RefOf(ca.Cert),
		leaf.Cert.NotBefore.Format(time.RFC3339), leaf.Cert.NotAfter.Format(time.RFC3339)))
}

// leafOptions converts and checks the flags that describe the leaf.
func leafOptions(o *IssueOptions) (trust.LeafOptions, error) {
	alg, err := o.algorithm()
	if err != nil {
		return trust.LeafOptions{}, err
	}
	opts := trust.LeafOptions{CommonName: o.CommonName, DNSNames: o.DNS, Algorithm: alg, Validity: o.Validity}
	for i, d := range o.DNS {
		if strings.TrimSpace(d) == "" {
			return opts, fmt.Errorf("flag --dns: entry %d is empty", i+1)
		}
	}
	for _, u := range o.Usage {
		switch strings.TrimSpace(u) {
		case "server":
			opts.Usage |= trust.UsageServer
		case "client":
			opts.Usage |= trust.UsageClient
		default:
			return opts, fmt.Errorf("flag --usage: unknown usage %q (want server, client or server,client)", u)
		}
	}
	for _, s := range o.IPs {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			return opts, fmt.Errorf("flag --ip: %q is not an IP address", s)
		}
		opts.IPAddresses = append(opts.IPAddresses, ip)
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return opts, fmt.Errorf("flag --uri: %q is not an absolute URI", s)
		}
		opts.URIs = append(opts.URIs, u)
	}
	sans := len(opts.DNSNames) + len(opts.IPAddresses) + len(opts.URIs)
	switch {
	case opts.Usage&trust.UsageServer != 0 && sans == 0:
		return opts, fmt.Errorf("flags --dns, --ip, --uri: a server certificate needs at least one (TLS clients check SANs, not --cn)")
	case sans == 0 && strings.TrimSpace(opts.CommonName) == "":
		return opts, fmt.Errorf("flag --cn: empty, and no --dns, --ip or --uri names the certificate")
	}
	return opts, nil
}
