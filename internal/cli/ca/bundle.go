package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/trust"
)

// BundleOptions are the inputs of `handover ca bundle`.
type BundleOptions struct {
	Active   string   // PEM file with exactly one CA certificate
	Previous []string // PEM files with earlier CAs, newest first; each may hold several
	InUse    []string // PEM files whose first certificate is a leaf still in use
	Max      int      // bundle cap; 0 = trust.DefaultMaxCAs
	Now      string   // RFC 3339; "" = Clock's now
	Clock    clock.PassiveClock
	Out      io.Writer // the bundle PEM
	ErrOut   io.Writer // the summary
}

func newBundleCommand(clk clock.PassiveClock) *cobra.Command {
	o := &BundleOptions{Clock: clk}
	cmd := &cobra.Command{
		Use:   "bundle --active CA.pem [--previous OLD.pem]... [--in-use LEAF.pem]...",
		Short: "Print the trust bundle to publish: active CA first, then unexpired previous CAs",
		Long: `Print (PEM, to stdout) the trust bundle the rotation policy produces, and a
summary of what was kept and dropped and why (to stderr).

Policy (internal/trust.Bundle): the --active CA first; then the --previous
CAs in the order given (newest first; a file may hold several, e.g. the bundle
published now), skipping those expired at --now and exact duplicates (same
DER), up to --max CAs in all.

Safety: for each --in-use file its first certificate is a leaf still served or
presented somewhere. If the bundle would lose every CA that signs such a leaf,
the command prints no bundle and exits 1, naming the leaf and the CA (subject
and SHA-256 fingerprint):
  - "bundle would drop a CA that signs a leaf in use": the cap drops it; raise
    --max or re-issue the leaf from the active CA first;
  - "the CA that signs a leaf in use has expired": the leaf is already
    unverifiable; re-issue it;
  - "no input CA signs a leaf in use": pass the leaf's issuer with --previous.

The active CA must be a CA (BasicConstraints CA:TRUE and KeyUsage keyCertSign,
RFC 5280 §4.2.1.9 and §4.2.1.3) valid at --now.`,
		Example: `  # rotating from old-ca.pem to new-ca.pem while web.pem (old CA) is still served
  handover ca bundle --active new-ca.pem --previous old-ca.pem --in-use web.pem > bundle.pem

  # next step: keep what is published now (at most --max 2 CAs, the operator's
  # spec.bundlePolicy.maxCAs cap), evaluated at a fixed time
  handover ca bundle --active newer.pem --previous bundle.pem --now 2026-01-01T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out, o.ErrOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runBundle(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Active, "active", "", "PEM file with the active CA certificate (required)")
	f.StringArrayVar(&o.Previous, "previous", nil, "PEM file with previous CA certificates, newest first (repeatable)")
	f.StringArrayVar(&o.InUse, "in-use", nil, "PEM file whose first certificate is a leaf still in use (repeatable)")
	f.IntVar(&o.Max, "max", trust.DefaultMaxCAs, "maximum number of CAs in the bundle (the operator's spec.bundlePolicy.maxCAs accepts 1 to 8)")
	f.StringVar(&o.Now, "now", "", "evaluate expiry at this RFC 3339 time instead of the current time")
	_ = cmd.MarkFlagRequired("active")
	return cmd
}

// origin remembers which file (and block) an input certificate came from.
type origin struct {
	file  string
	index int
}

func runBundle(ctx context.Context, o *BundleOptions) error {
	if o.Max < 1 {
		return fmt.Errorf("flag --max: %d, want at least 1", o.Max)
	}
	now, err := resolveNow(o.Now, o.Clock)
	if err != nil {
		return err
	}
	active, err := readCerts(ctx, "--active", o.Active)
	if err != nil {
		return err
	}
	if len(active) != 1 {
		return fmt.Errorf("%s: %d certificates, want exactly 1 active CA", source("--active", o.Active), len(active))
	}
	if err := trust.ValidateCA(active[0], now); err != nil {
		return fmt.Errorf("%s: %w", source("--active", o.Active), err)
	}
	in := trust.BundleInput{Active: active[0], Now: now, MaxCAs: o.Max}
	origins := []origin{{file: o.Active}}
	names := map[string]string{trust.Fingerprint(active[0]): source("--active", o.Active)}
	for _, path := range o.Previous {
		certs, err := readCerts(ctx, "--previous", path)
		if err != nil {
			return err
		}
		for i, c := range certs {
			if err := trust.ValidateCAConstraints(c); err != nil {
				return fmt.Errorf("%s: block %d: %w", source("--previous", path), i, err)
			}
			in.Previous = append(in.Previous, c)
			origins = append(origins, origin{file: path, index: i})
			if _, ok := names[trust.Fingerprint(c)]; !ok {
				names[trust.Fingerprint(c)] = source("--previous", path)
			}
		}
	}
	for _, path := range o.InUse {
		certs, err := readCerts(ctx, "--in-use", path)
		if err != nil {
			return err
		}
		in.InUse = append(in.InUse, certs[0])
		names[trust.Fingerprint(certs[0])] = source("--in-use", path)
	}
	entries, err := trust.ExplainBundle(in)
	if err != nil {
		return fmt.Errorf("bundle refused: %w", withFiles(err, names))
	}
	var kept []*x509.Certificate
	for _, e := range entries {
		if e.Kept {
			kept = append(kept, e.Cert)
		}
	}
	if _, err := o.Out.Write(trust.EncodeCertificates(kept...)); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return writeSummary(o.ErrOut, entries, origins, len(kept), o.Max, now)
}

// withFiles appends the input file of the leaf and the CA to every
// *trust.SignerError in err (a single error or an errors.Join).
func withFiles(err error, names map[string]string) error {
	var (
		errs []error
		j    interface{ Unwrap() []error }
	)
	if errors.As(err, &j) {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var se *trust.SignerError
		if !errors.As(e, &se) {
			out = append(out, e)
			continue
		}
		where := "leaf from " + names[se.Leaf.Fingerprint]
		if se.CA.Fingerprint != "" {
			where += ", CA from " + names[se.CA.Fingerprint]
		}
		out = append(out, fmt.Errorf("%w (%s)", e, where))
	}
	return errors.Join(out...)
}

// readCerts reads and parses a PEM file of certificates, naming it in errors.
func readCerts(ctx context.Context, flag, path string) ([]*x509.Certificate, error) {
	data, err := readInput(ctx, flag, path)
	if err != nil {
		return nil, err
	}
	certs, err := trust.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source(flag, path), err)
	}
	return certs, nil
}

func writeSummary(w io.Writer, entries []trust.BundleEntry, origins []origin, kept, maxCAs int, now time.Time) error {
	var buf bytes.Buffer // writes to a bytes.Buffer cannot fail; one checked write below
	fmt.Fprintf(&buf, "bundle: %d of %d CAs (max %d) at %s\n", kept, len(entries), maxCAs, now.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for i, e := range entries {
		verdict, role := "kept", "previous"
		if !e.Kept {
			verdict = "dropped (" + e.Reason + ")"
		}
		if e.Index < 0 {
			role = "active"
		}
		o := origins[i]
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\tnotAfter %s\tsha256 %s\t%s#%d\n",
			verdict, role, clean(e.Cert.Subject.String()), e.Cert.NotAfter.UTC().Format(time.RFC3339),
			trust.Fingerprint(e.Cert), clean(o.file), o.index)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
