package ca

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/trust"
)

// NewOptions are the inputs of `handover ca new`.
type NewOptions struct {
	KeyPairFiles
	CommonName   string
	Organization []string
}

func newNewCommand(clk clock.PassiveClock) *cobra.Command {
	o := &NewOptions{KeyPairFiles: KeyPairFiles{Clock: clk}}
	cmd := keyPairCommand(&cobra.Command{
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
	}, &o.KeyPairFiles, "CA", trust.DefaultCAValidity, "how long the CA is valid",
		func(ctx context.Context) error { return runNew(ctx, o) })
	cmd.Flags().StringVar(&o.CommonName, "cn", "handover CA", "subject common name")
	cmd.Flags().StringArrayVar(&o.Organization, "org", nil, "subject organization (repeatable)")
	return cmd
}

func runNew(_ context.Context, o *NewOptions) error {
	now, err := o.issueTime()
	if err != nil {
		return err
	}
	alg, err := o.algorithm()
	if err != nil {
		return err
	}
	ca, err := trust.NewCA(trust.CAOptions{
		CommonName:   o.CommonName,
		Organization: o.Organization,
		Algorithm:    alg,
		Validity:     o.Validity,
	}, now)
	if err != nil {
		return fmt.Errorf("create CA: %w", err)
	}
	return o.write(ca.CertPEM, ca.KeyPEM, fmt.Sprintf("created CA %s, valid %s to %s",
		trust.RefOf(ca.Cert), ca.Cert.NotBefore.Format(time.RFC3339), ca.Cert.NotAfter.Format(time.RFC3339)))
}
