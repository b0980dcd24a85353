package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/trust"
)

// InspectOptions are the inputs of `handover ca inspect`.
type InspectOptions struct {
	Files  []string
	Output string // "" (table) or "json"
	Out    io.Writer
}

func newInspectCommand() *cobra.Command {
	o := &InspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect FILE...",
		Short: "Print the certificates in PEM files as a table or JSON",
		Long: `Print every certificate in the given PEM files: file, index in the file,
subject, issuer, serial (hex), notBefore, notAfter (UTC, RFC 3339), whether it
is a CA (BasicConstraints CA:TRUE), key type, SANs and the SHA-256 fingerprint
of its DER encoding (as "openssl x509 -fingerprint -sha256" prints it).

Non-certificate blocks (keys) are skipped and never printed. All files are
parsed before anything is printed: if one fails, the command prints only the
errors, one per bad file, and exits 1.`,
		Example: `  handover ca inspect ca.pem web.pem
  handover ca inspect -o json bundle.pem | jq -r '.[].sha256'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Files, o.Out = args, cmd.OutOrStdout()
			return runInspect(cmd.Context(), o)
		},
	}
	addOutputFlag(cmd, &o.Output, "a table")
	return cmd
}

// certInfo is one row of `ca inspect`; its JSON form is the -o json schema.
type certInfo struct {
	File           string    `json:"file"`
	Index          int       `json:"index"`
	Subject        string    `json:"subject"`
	Issuer         string    `json:"issuer"`
	Serial         string    `json:"serial"`
	NotBefore      time.Time `json:"notBefore"`
	NotAfter       time.Time `json:"notAfter"`
	IsCA           bool      `json:"isCA"`
	KeyAlgorithm   string    `json:"keyAlgorithm"`
	DNSNames       []string  `json:"dnsNames"`
	IPAddresses    []string  `json:"ipAddresses"`
	URIs           []string  `json:"uris"`
	EmailAddresses []string  `json:"emailAddresses"`
	SHA256         string    `json:"sha256"`
}

func runInspect(ctx context.Context, o *InspectOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	var (
		rows []certInfo
		errs []error
	)
	for _, path := range o.Files {
		data, err := readInput(ctx, "", path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		certs, err := trust.ParseCertificates(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source("", path), err))
			continue
		}
		for i, c := range certs {
			rows = append(rows, describe(path, i, c))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if o.Output == "json" {
		return writeJSON(o.Out, rows)
	}
	return writeTable(o.Out, rows)
}

func describe(path string, i int, c *x509.Certificate) certInfo {
	info := certInfo{
		File:           path,
		Index:          i,
		Subject:        c.Subject.String(),
		Issuer:         c.Issuer.String(),
		Serial:         fmt.Sprintf("%X", c.SerialNumber),
		NotBefore:      c.NotBefore.UTC(),
		NotAfter:       c.NotAfter.UTC(),
		IsCA:           c.BasicConstraintsValid && c.IsCA,
		KeyAlgorithm:   keyAlgorithm(c),
		DNSNames:       append([]string{}, c.DNSNames...),
		IPAddresses:    []string{},
		URIs:           []string{},
		EmailAddresses: append([]string{}, c.EmailAddresses...),
		SHA256:         trust.Fingerprint(c),
	}
	for _, ip := range c.IPAddresses {
		info.IPAddresses = append(info.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		info.URIs = append(info.URIs, u.String())
	}
	return info
}

// keyAlgorithm describes the certificate's public key: "ECDSA-P256",
// "RSA-2048", "Ed25519" or the x509 algorithm name.
func keyAlgorithm(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA-" + strings.ReplaceAll(k.Curve.Params().Name, "-", "")
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return c.PublicKeyAlgorithm.String()
	}
}

func (i certInfo) sans() string {
	var s []string
	for _, d := range i.DNSNames {
		s = append(s, "DNS:"+d)
	}
	for _, ip := range i.IPAddresses {
		s = append(s, "IP:"+ip)
	}
	for _, u := range i.URIs {
		s = append(s, "URI:"+u)
	}
	for _, e := range i.EmailAddresses {
		s = append(s, "email:"+e)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func writeTable(w io.Writer, rows []certInfo) error {
	return writeBuffered(w, func(w io.Writer) error { return fillTable(w, rows) })
}

func fillTable(w io.Writer, rows []certInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "FILE\t#\tSUBJECT\tISSUER\tSERIAL\tNOT BEFORE\tNOT AFTER\tCA\tKEY\tSANS\tSHA-256")
	for _, r := range rows {
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n",
			clean(r.File), r.Index, clean(orDash(r.Subject)), clean(orDash(r.Issuer)), r.Serial,
			r.NotBefore.Format(time.RFC3339), r.NotAfter.Format(time.RFC3339),
			r.IsCA, r.KeyAlgorithm, clean(r.sans()), r.SHA256)
	}
	return tw.Flush()
}
