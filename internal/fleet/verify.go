package fleet

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// verifyTimeout bounds one verification handshake.
const verifyTimeout = 2 * time.Second

// VerifyAcceptsCA handshakes with every replica of a server (directly, not
// through its balancer) presenting probe as the client leaf, or has a client
// dial a one-off server presenting probe. nil when every pod accepted;
// otherwise an error wrapping ErrNotAccepted naming the pod and the cause.
func (f *Fleet) VerifyAcceptsCA(ctx context.Context, c rotation.Consumer, probeCert tls.Certificate) error {
	return f.verify(ctx, c, probeCert, nil)
}

// VerifyPresentsLeafFrom is VerifyAcceptsCA plus a check that the leaf each
// pod presented chains to roots (serverAuth for servers, clientAuth for
// clients). probe must be accepted by c (a leaf of a CA it trusts).
func (f *Fleet) VerifyPresentsLeafFrom(ctx context.Context, c rotation.Consumer, roots *x509.CertPool, probeCert tls.Certificate) error {
	if roots == nil {
		return fmt.Errorf("%w: roots is nil", ErrInvalidConfig)
	}
	return f.verify(ctx, c, probeCert, roots)
}

func (f *Fleet) verify(ctx context.Context, c rotation.Consumer, probeCert tls.Certificate, roots *x509.CertPool) error {
	fc, err := f.lookup(c)
	if err != nil {
		return err
	}
	if fc.srv != nil {
		inst := fc.srv.instances()
		if len(inst) == 0 {
			return fmt.Errorf("%s: %w", c.Name, ErrNoReplica)
		}
		names := make([]string, 0, len(inst))
		for n := range inst {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := verifyServer(ctx, inst[n], fc.name, probeCert, roots); err != nil {
				return verifyError(n, err)
			}
		}
		return nil
	}
	if err := verifyClient(ctx, fc.cli, probeCert, roots); err != nil {
		return verifyError(fc.pods[0].name, err)
	}
	return nil
}

// verifyServer dials one replica with probe as client leaf. Server identity
// is not what is being verified here, so the chain check is done by hand
// against roots (when set) instead of the usual RootCAs.
func verifyServer(ctx context.Context, in *tlsloop.Server, name string, probeCert tls.Certificate, roots *x509.CertPool) error {
	cfg := &tls.Config{
		ServerName:             name,
		Certificates:           []tls.Certificate{probeCert},
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
		InsecureSkipVerify:     true, //nolint:gosec // chain checked in VerifyConnection when roots is set
		VerifyConnection: func(cs tls.ConnectionState) error {
			if roots == nil {
				return nil
			}
			return verifyChain(cs.PeerCertificates, roots, x509.ExtKeyUsageServerAuth, name)
		},
	}
	return roundTrip(ctx, in.Addr(), cfg, in.CountDirect)
}

// verifyClient runs a one-off server presenting probe, has cl dial it with
// its current material, and checks the leaf cl presented against roots.
func verifyClient(ctx context.Context, cl *client, probeCert tls.Certificate, roots *x509.CertPool) error {
	leaf, err := leafOf(probeCert)
	if err != nil {
		return err
	}
	if len(leaf.DNSNames) == 0 {
		return fmt.Errorf("%w: probe certificate has no DNS name", ErrInvalidConfig)
	}
	srvCfg := &tls.Config{
		Certificates:           []tls.Certificate{probeCert},
		ClientAuth:             tls.RequireAnyClientCert,
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if roots == nil {
				return nil
			}
			return verifyChain(cs.PeerCertificates, roots, x509.ExtKeyUsageClientAuth, "")
		},
	}
	in, err := tlsloop.NewServer(srvCfg)
	if err != nil {
		return err
	}
	defer in.Stop(0, 0)
	m, err := cl.material()
	if err != nil {
		return err
	}
	cliCfg := &tls.Config{
		ServerName:             leaf.DNSNames[0],
		Certificates:           []tls.Certificate{m.Cert},
		RootCAs:                m.Roots,
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
	}
	return roundTrip(ctx, in.Addr(), cliCfg, nil)
}

// verifyError names the pod and wraps ErrNotAccepted when err is a
// certificate rejection (probe.Classify: a TLS certificate alert from the
// peer or a certificate verification error on our side). Other errors (dial,
// timeout, EOF from a stopping replica) are returned as transient.
func verifyError(pod string, err error) error {
	switch probe.Classify(err) {
	case probe.ClassBadCertificate, probe.ClassUnknownAuthority, probe.ClassCertificateExpired:
		return fmt.Errorf("%w: %s: %w", ErrNotAccepted, pod, err)
	}
	return fmt.Errorf("verify %s: %w", pod, err)
}

func leafOf(c tls.Certificate) (*x509.Certificate, error) {
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	if len(c.Certificate) == 0 {
		return nil, fmt.Errorf("%w: probe certificate is empty", ErrInvalidConfig)
	}
	return x509.ParseCertificate(c.Certificate[0])
}

func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, dnsName string) error {
	if len(certs) == 0 {
		return errors.New("no certificate presented")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: dnsName,
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return fmt.Errorf("presented leaf %q: %w", certs[0].Subject.CommonName, err)
	}
	return nil
}

// roundTrip dials addr, calls dialed (if set) once connected, handshakes
// with cfg and exchanges one request and response (so a TLS 1.3
// client-certificate rejection is observed).
func roundTrip(ctx context.Context, addr string, cfg *tls.Config, dialed func()) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if dialed != nil {
		dialed()
	}
	conn := tls.Client(raw, cfg)
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		return err
	}
	if _, err := conn.Write([]byte(tlsloop.Request)); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadSlice('\n')
	if err != nil {
		return err
	}
	if string(line) != tlsloop.Response {
		return ErrBadResponse
	}
	return nil
}
