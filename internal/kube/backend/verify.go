package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// VerifyAcceptsCA checks that c accepts probeCert (a leaf of the CA in
// question) as a client leaf.
//
// With spec.consumers[].probe: 2×c.Replicas (at least 2) fresh mTLS
// handshakes (probe.MTLS) to probe.address with probe.serverName, each
// bounded by Options.ProbeTimeout, verifying the server against the union of
// the published trust bundles. nil when every attempt succeeded; an error
// wrapping ErrRejected when every attempt was rejected by the peer (a TLS
// certificate alert); otherwise a plain error (mixed answers, dial failures,
// timeouts, a server leaf the published bundles do not verify).
//
// Without a probe: the published bundles must all hold the probe's CA (all
// lacking it gives ErrRejected, a mix a plain error) and the latest publish
// must have reached the pods (see package doc); before that an error
// wrapping ErrPropagating, e.g. "waiting for propagation (23s left)".
func (b *Backend) VerifyAcceptsCA(ctx context.Context, c rotation.Consumer, probeCert tls.Certificate) error {
	cs, err := b.lookup(c)
	if err != nil {
		return err
	}
	st, err := b.readPublished(ctx)
	if err != nil {
		return err
	}
	if cs.spec.Probe != nil {
		roots := st.rootPool()
		if roots == nil {
			return fmt.Errorf("%s: no trust bundle published yet to verify %s's server leaf", c.Name, cs.spec.Probe.Address)
		}
		return b.handshakes(ctx, cs, c.Replicas, probeCert, roots, false)
	}
	chain := chainPEMOf(probeCert)
	holds := 0
	var lacking string
	for _, nb := range st.bundles {
		if chainsTo(chain, poolOf(nb.data), b.clk.Now()) {
			holds++
		} else if lacking == "" {
			lacking = nb.name
		}
	}
	if holds > 0 && holds < len(st.bundles) {
		return fmt.Errorf("%s: %d of %d published bundles trust the probe's CA (%s does not): a publish is in progress", c.Name, holds, len(st.bundles), lacking)
	}
	if err := b.reached(ctx, cs, st.latest); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if holds == 0 && len(st.bundles) > 0 {
		return fmt.Errorf("%w: %s: the published trust bundle (%s) does not hold the probe's CA", ErrRejected, c.Name, lacking)
	}
	return nil
}

// VerifyPresentsLeafFrom checks that c presents a leaf chaining to roots.
//
// With a probe: handshakes as in VerifyAcceptsCA (offering probeCert, which c
// must accept), verifying the server's leaf against roots and
// probe.serverName. nil when every attempt verified; ErrRejected when every
// attempt failed on the leaf's chain (or was rejected by the peer); a plain
// error otherwise (including a hostname mismatch: a configuration problem,
// not a rotation state).
//
// Without a probe: tls.crt of every spec.certificates Secret must chain to
// roots (all not chaining → ErrRejected, a mix → plain error) and the latest
// publish must have reached the pods (ErrPropagating before that).
func (b *Backend) VerifyPresentsLeafFrom(ctx context.Context, c rotation.Consumer, roots *x509.CertPool, probeCert tls.Certificate) error {
	if roots == nil {
		return fmt.Errorf("%w: roots is nil", ErrInvalidPayload)
	}
	cs, err := b.lookup(c)
	if err != nil {
		return err
	}
	if cs.spec.Probe != nil {
		return b.handshakes(ctx, cs, c.Replicas, probeCert, roots, true)
	}
	st, err := b.readPublished(ctx)
	if err != nil {
		return err
	}
	holds := 0
	var lacking string
	for _, l := range st.leaves {
		if chainsTo(l.data, roots, b.clk.Now()) {
			holds++
		} else if lacking == "" {
			lacking = l.name
		}
	}
	if holds > 0 && holds < len(st.leaves) {
		return fmt.Errorf("%s: %d of %d leaf Secrets chain to the expected CA (%s does not)", c.Name, holds, len(st.leaves), lacking)
	}
	if err := b.reached(ctx, cs, st.latest); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if holds == 0 && len(st.leaves) > 0 {
		return fmt.Errorf("%w: %s: the published leaf (%s) does not chain to the expected CA", ErrRejected, c.Name, lacking)
	}
	return nil
}

// handshakes runs the live mTLS attempts of one verification. checkLeaf says
// whether a failure to verify the server's chain counts as a rejection
// (VerifyPresentsLeafFrom) or as a plain error (VerifyAcceptsCA).
func (b *Backend) handshakes(ctx context.Context, cs *consumerSpec, replicas int, cert tls.Certificate, roots *x509.CertPool, checkLeaf bool) error {
	addrs, serverName, err := b.probeTargets(ctx, cs, replicas)
	if err != nil {
		return err
	}
	attempts := len(addrs)
	where := addrs[0]
	if cs.spec.Probe.Service != "" {
		where = fmt.Sprintf("%d endpoints of Service %s", attempts/2, cs.spec.Probe.Service)
	}
	m := &probe.MTLS{
		ServerName:           serverName,
		GetClientCertificate: func() (*tls.Certificate, error) { return &cert, nil },
		GetRootCAs:           func() (*x509.CertPool, error) { return roots, nil },
		ProbeName:            "verify-" + cs.spec.Name,
		Dial:                 b.opts.Dial,
	}
	var accepted, rejected int
	var firstErr error
	for i, addr := range addrs {
		m.Addr = addr
		actx, cancel := context.WithTimeout(ctx, b.opts.ProbeTimeout)
		err := m.Once(actx)
		cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", cs.spec.Name, ctx.Err())
		}
		switch {
		case err == nil:
			accepted++
			continue
		case isRejection(err, checkLeaf):
			rejected++
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("attempt %d (%s): %w", i+1, addr, err)
		}
	}
	switch {
	case accepted == attempts:
		return nil
	case rejected == attempts:
		return fmt.Errorf("%w: %s at %s: all %d handshakes failed on certificates: %w", ErrRejected, cs.spec.Name, where, attempts, firstErr)
	}
	return fmt.Errorf("%s at %s: %d of %d handshakes succeeded, %d rejected: %w", cs.spec.Name, where, accepted, attempts, rejected, firstErr)
}

// isRejection tells a certificate verdict from a transient failure: a
// certificate alert from the peer (it rejected our leaf) always; a failure
// to verify the peer's chain on our side only when checkLeaf (the peer
// presented a leaf from another CA). A hostname mismatch never is.
func isRejection(err error, checkLeaf bool) bool {
	var host x509.HostnameError
	if errors.As(err, &host) {
		return false
	}
	var local *tls.CertificateVerificationError
	if errors.As(err, &local) {
		return checkLeaf
	}
	switch probe.Classify(err) {
	case probe.ClassBadCertificate, probe.ClassUnknownAuthority, probe.ClassCertificateExpired:
		return true
	}
	return false
}

// chainPEMOf encodes a tls.Certificate's chain as PEM.
func chainPEMOf(c tls.Certificate) []byte {
	certs := make([]*x509.Certificate, 0, len(c.Certificate))
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		certs = append(certs, x)
	}
	return trust.EncodeCertificates(certs...)
}
