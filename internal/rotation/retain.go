package rotation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/trust"
)

// maxCAs is Spec.MaxCAs or trust.DefaultMaxCAs.
func (r *Rotation) maxCAs() int {
	if r.spec.MaxCAs > 0 {
		return r.spec.MaxCAs
	}
	return trust.DefaultMaxCAs
}

// RestingCap is the most CAs a bundle holds between rotations under a cap
// of maxCAs (0 = trust.DefaultMaxCAs): maxCAs-1, at least 1, so that the
// next rotation's overlap [new, previous...] fits the cap.
func RestingCap(maxCAs int) int {
	if maxCAs <= 0 {
		maxCAs = trust.DefaultMaxCAs
	}
	return max(1, maxCAs-1)
}

// stagedBundle encodes the trust bundle policy's bundle of active over
// previous (newest first) and Spec.Retained, at most limit CAs. With
// inUse it also applies the signer rule (trust.Bundle): a SignerError is
// returned, never a bundle that drops a CA signing a leaf in use.
func (r *Rotation) stagedBundle(ctx context.Context, limit int, inUse bool, active *trust.CA, previous ...*trust.CA) ([]byte, error) {
	in := trust.BundleInput{Active: active.Cert, Now: r.spec.Clock.Now(), MaxCAs: limit}
	for _, p := range previous {
		in.Previous = append(in.Previous, p.Cert)
	}
	in.Previous = append(in.Previous, r.spec.Retained...)
	if inUse && r.spec.InUse != nil {
		leaves, err := r.spec.InUse(ctx)
		if err != nil {
			return nil, fmt.Errorf("leaves in use: %w", err)
		}
		in.InUse = signedByAny(leaves, append([]*x509.Certificate{in.Active}, in.Previous...))
	}
	certs, err := trust.Bundle(in)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	return trust.EncodeCertificates(certs...), nil
}

// signerGate answers NotYet while the bundle after the grace period (at
// RestingCap) would drop a CA that signs a leaf in use, with the policy's
// reason (leaf and CA by subject and fingerprint; no key material).
func (r *Rotation) signerGate(ctx context.Context) plan.Result {
	if r.spec.InUse == nil {
		return plan.Done()
	}
	_, err := r.stagedBundle(ctx, RestingCap(r.maxCAs()), true, r.spec.New, r.spec.Old)
	var se *trust.SignerError
	switch {
	case err == nil:
		return plan.Done()
	case errors.As(err, &se):
		return plan.NotYet("not dropping a CA that signs a leaf in use: " + err.Error())
	default:
		return plan.NotYet(err.Error())
	}
}

// leavesGate answers NotYet while Spec.LeavesIssued reports leaves not yet
// re-issued by the CA that issues now.
func (r *Rotation) leavesGate(ctx context.Context) plan.Result {
	if r.spec.LeavesIssued == nil {
		return plan.Done()
	}
	waiting, err := r.spec.LeavesIssued(ctx)
	switch {
	case err != nil:
		return plan.NotYet(err.Error())
	case waiting != "":
		return plan.NotYet(waiting)
	}
	return plan.Done()
}

// signedByAny keeps the leaves that one of cas signs: a leaf of some other
// CA is not this bundle's business.
func signedByAny(leaves, cas []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, l := range leaves {
		for _, c := range cas {
			if l != nil && c != nil && l.CheckSignatureFrom(c) == nil {
				out = append(out, l)
				break
			}
		}
	}
	return out
}
