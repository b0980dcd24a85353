package trust

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// DefaultMaxCAs is the bundle size when BundleInput.MaxCAs is 0: the active
// CA and the one before it, enough for one make-before-break rotation.
const DefaultMaxCAs = 2

// BundleInput is the input of the trust bundle policy.
type BundleInput struct {
	Active   *x509.Certificate   // the CA issuing new leaves; required, must pass ValidateCA at Now
	Previous []*x509.Certificate // earlier CAs, newest first; each must be a CA (time is the policy's business)
	InUse    []*x509.Certificate // leaves still served or presented somewhere
	Now      time.Time
	MaxCAs   int // 0 = DefaultMaxCAs; negative is an error
}

// Decision reasons in a BundleEntry.
const (
	ReasonActive    = "active"
	ReasonKept      = "kept"
	ReasonDuplicate = "duplicate"
	ReasonExpired   = "expired"
	ReasonOverCap   = "over cap"
)

// BundleEntry is the policy's decision for one input CA. Index is the
// position in BundleInput.Previous, -1 for the active CA.
type BundleEntry struct {
	Cert   *x509.Certificate
	Index  int
	Kept   bool
	Reason string // one of the Reason constants
}

// Bundle returns the trust bundle for in: the active CA first, then the
// previous CAs in input order that are unexpired at Now (notAfter >= Now) and
// not a DER duplicate of an earlier entry, at most MaxCAs in all. It is pure.
//
// It never returns a bundle that drops a CA which signs a leaf in InUse
// ("signs" = leaf.CheckSignatureFrom(ca) succeeds): instead it returns
// *SignerError values (joined with errors.Join, one per leaf) naming the
// leaf and the CA by subject and SHA-256 fingerprint, wrapping
// ErrBundleWouldDropSigner when the cap would drop the CA (raise MaxCAs or
// re-issue the leaf first), ErrSignerExpired when the signer has expired (the
// leaf is already unverifiable: Go and OpenSSL check every chain element's
// validity; re-issue it), or ErrNoSigner when no input CA signs the leaf.
// Other errors: ErrNoActiveCA, ValidateCA errors for Active, ErrNotCA for a
// previous certificate, ErrInvalidOptions for nil entries or negative MaxCAs.
func Bundle(in BundleInput) ([]*x509.Certificate, error) {
	entries, err := ExplainBundle(in)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, e := range entries {
		if e.Kept {
			out = append(out, e.Cert)
		}
	}
	return out, nil
}

// ExplainBundle applies the Bundle policy and returns its decision for every
// input CA (active first, then Previous in order) instead of only the kept
// ones. Errors are Bundle's; entries are nil on error.
func ExplainBundle(in BundleInput) ([]BundleEntry, error) {
	if in.Active == nil {
		return nil, ErrNoActiveCA
	}
	if in.MaxCAs < 0 {
		return nil, fmt.Errorf("%w: BundleInput.MaxCAs %d is negative", ErrInvalidOptions, in.MaxCAs)
	}
	maxCAs := in.MaxCAs
	if maxCAs == 0 {
		maxCAs = DefaultMaxCAs
	}
	if err := ValidateCA(in.Active, in.Now); err != nil {
		return nil, fmt.Errorf("active CA: %w", err)
	}
	entries := []BundleEntry{{Cert: in.Active, Index: -1, Kept: true, Reason: ReasonActive}}
	kept := 1
	for i, c := range in.Previous {
		if c == nil {
			return nil, fmt.Errorf("%w: BundleInput.Previous[%d] is nil", ErrInvalidOptions, i)
		}
		if err := ValidateCAConstraints(c); err != nil {
			return nil, fmt.Errorf("previous CA %d: %w", i, err)
		}
		e := BundleEntry{Cert: c, Index: i}
		switch {
		case isDuplicate(c, entries):
			e.Reason = ReasonDuplicate
		case in.Now.After(c.NotAfter):
			e.Reason = ReasonExpired
		case kept >= maxCAs:
			e.Reason = ReasonOverCap
		default:
			e.Kept, e.Reason = true, ReasonKept
			kept++
		}
		entries = append(entries, e)
	}
	var errs []error
	for i, leaf := range in.InUse {
		if leaf == nil {
			return nil, fmt.Errorf("%w: BundleInput.InUse[%d] is nil", ErrInvalidOptions, i)
		}
		if err := checkSigner(leaf, entries, maxCAs); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return entries, nil
}

// isDuplicate reports whether c has the same DER as an earlier entry.
func isDuplicate(c *x509.Certificate, entries []BundleEntry) bool {
	for _, e := range entries {
		if bytes.Equal(e.Cert.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// checkSigner returns nil when a kept entry signs leaf, else a *SignerError
// naming the most useful dropped signer (over cap before expired).
func checkSigner(leaf *x509.Certificate, entries []BundleEntry, maxCAs int) error {
	var overCap, expired *x509.Certificate
	for _, e := range entries {
		if e.Reason == ReasonDuplicate || leaf.CheckSignatureFrom(e.Cert) != nil {
			continue
		}
		switch {
		case e.Kept:
			return nil
		case e.Reason == ReasonOverCap && overCap == nil:
			overCap = e.Cert
		case e.Reason == ReasonExpired && expired == nil:
			expired = e.Cert
		}
	}
	switch {
	case overCap != nil:
		return &SignerError{Leaf: RefOf(leaf), CA: RefOf(overCap), Reason: fmt.Sprintf("is beyond the cap (MaxCAs %d)", maxCAs), Err: ErrBundleWouldDropSigner}
	case expired != nil:
		return &SignerError{Leaf: RefOf(leaf), CA: RefOf(expired), Reason: fmt.Sprintf("expired at %s", expired.NotAfter.UTC().Format(time.RFC3339)), Err: ErrSignerExpired}
	default:
		return &SignerError{Leaf: RefOf(leaf), Err: ErrNoSigner}
	}
}
