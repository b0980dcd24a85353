package ca

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/trust"
)

// NewOptions are the inputs of `handover ca new`.
type NewOptions struct {
	OutCert, OutKey string
	CommonName      string
	Organization    []string
	Algorithm       string
	Validity        time.Duration
	Now             string // RFC 3339; "" = Clock's now
	Force           bool   // overwrite existing output files
	Clock           clock.PassiveClock
	Out             io.Writer
}

func newNewCommand(clk clock.PassiveClock) *cobra.Command {
	o := &NewOptions{Clock: clk}
	cmd := &cobra.Command{
		Use:   "new --out-cert CA.pem --out-key CA.key",
		Short: "Create a self-signed CA: certificate and PKCS#8 key (mode 0600)",
		Long: `Create a new self-signed CA for issuing leaves (pathLen 0: it signs leaves,
not intermediates): BasicConstraints CA:TRUE, KeyUsage keyCertSign|cRLSign,
a SHA-256 SubjectKeyId (RFC 7093) and a 128-bit random serial. notBefore is
one minute before --now to tolerate clock skew.

The certificate is written with mode 0644, the key (PKCS#8 PEM) with 0600,
each atomically. Existing files are not overwritten without --force; on any
error nothing is written. The key is never printed.`,
		Example: `  handover ca new --cn "payments CA" --out-cert ca.pem --out-key ca.key
  handover ca new --algorithm rsa-3072 --validity 8760h --out-cert ca.pem --out-key ca.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return runNew(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.OutCert, "out-cert", "", "write the CA certificate (PEM) here (required)")
	f.StringVar(&o.OutKey, "out-key", "", "write the CA private key (PKCS#8 PEM, mode 0600) here (required)")
	f.StringVar(&o.CommonName, "cn", "handover CA", "subject common name")
	f.StringArrayVar(&o.Organization, "org", nil, "subject organization (repeatable)")
	f.StringVar(&o.Algorithm, "algorithm", string(trust.AlgorithmECDSAP256), algorithmHelp())
	f.DurationVar(&o.Validity, "validity", trust.DefaultCAValidity, "how long the CA is valid")
	f.StringVar(&o.Now, "now", "", "issue as of this RFC 3339 time instead of the current time")
	f.BoolVar(&o.Force, "force", false, "overwrite existing output files")
	_ = cmd.MarkFlagRequired("out-cert")
	_ = cmd.MarkFlagRequired("out-key")
	return cmd
}

func algorithmHelp() string {
	return fmt.Sprintf("key algorithm: one of %v", trust.KeyAlgorithms())
}

func runNew(_ context.Context, o *NewOptions) error {
	now, err := resolveNow(o.Now, o.Clock)
	if err != nil {
		return err
	}
	if o.Validity <= 0 {
		return fmt.Errorf("flag --validity: %v, want a positive duration", o.Validity)
	}
	ca, err := trust.NewCA(trust.CAOptions{
		CommonName:   o.CommonName,
		Organization: o.Organization,
		Algorithm:    trust.KeyAlgorithm(o.Algorithm),
		Validity:     o.Validity,
	}, now)
	if err != nil {
		return fmt.Errorf("create CA: %w", err)
	}
	if err := writeOutputs(o.Force,
		output{flag: "--out-cert", path: o.OutCert, data: ca.CertPEM, perm: 0o644},
		output{flag: "--out-key", path: o.OutKey, data: ca.KeyPEM, perm: 0o600},
	); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "created CA %s, valid %s to %s\n  certificate: %s\n  key (0600):  %s\n",
		trust.RefOf(ca.Cert), ca.Cert.NotBefore.Format(time.RFC3339), ca.Cert.NotAfter.Format(time.RFC3339), o.OutCert, o.OutKey)
	return err
}
