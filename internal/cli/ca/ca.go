// Package ca is the `handover ca` command group: inspect certificates, create
// CAs, issue leaves and compute trust bundles with the policy of
// internal/trust.
package ca

import (
	"github.com/spf13/cobra"
	"k8s.io/utils/clock"
)

const longHelp = `Inspect certificates, create CAs, issue leaves and compute trust bundles.

A trust bundle is the list of CA certificates a TLS peer accepts: a "CA file",
the ca.crt key of a Secret, Envoy's trusted_ca, Go's RootCAs/ClientCAs. A peer
verifies every certificate it is shown against its bundle, so a CA can be
replaced without an outage only if, for as long as certificates signed by
either CA are in use, every peer trusts both: make before break.

Replacing ca.crt with the new CA in one atomic write is not enough, because
peers do not see the change at the same instant (kubelet syncs mounted Secrets
up to a minute late; some processes load certificates once at start). In that
window a peer that already presents a leaf from the new CA is rejected by a
peer that still trusts only the old one. Envoy Gateway issue #4891 is exactly
this outage after "certgen --overwrite". The cure is overlap: publish a bundle
with both CAs, wait until every peer has it, re-issue the leaves, and drop the
old CA only when no leaf it signed is still in use.

"handover ca bundle" computes such a bundle with a fixed, tested policy: the
active CA first, then the previous CAs that have not expired, without
duplicates, at most --max. It refuses (exit 1) rather than silently drop a CA
that still signs a leaf given with --in-use.

Certificates and keys are read as PEM (RFC 7468); keys in PKCS#8, PKCS#1 or
SEC1. Text before a PEM block is allowed; anything after the last block is an
error. Errors name the file and the problem, never key material.`

const exampleHelp = `  # a CA, a server leaf, and what they contain
  handover ca new --cn "demo CA" --out-cert ca.pem --out-key ca.key
  handover ca issue --ca-cert ca.pem --ca-key ca.key --cn web --dns web.local --ip 127.0.0.1 \
      --usage server --out-cert web.pem --out-key web.key
  handover ca inspect ca.pem web.pem

  # rotating from old-ca.pem to ca.pem while old-web.pem (signed by the old CA)
  # is still served: the bundle keeps both CAs, or the command refuses
  handover ca bundle --active ca.pem --previous old-ca.pem --in-use old-web.pem > bundle.pem`

// NewCommand returns `handover ca` with its subcommands.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ca",
		Short:   "Inspect certificates, create CAs, issue leaves, compute trust bundles",
		Long:    longHelp,
		Example: exampleHelp,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	clk := clock.RealClock{}
	cmd.AddCommand(
		newInspectCommand(),
		newBundleCommand(clk),
		newNewCommand(clk),
		newIssueCommand(clk),
		newPlanCommand(),
		newStatusCommand(),
		newRotateCommand(clk),
		newRevertCommand(clk),
	)
	return cmd
}
