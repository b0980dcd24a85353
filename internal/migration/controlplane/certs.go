package controlplane

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// CertHasName reads the first certificate of the PEM file certFile and
// verifies that it is valid for name (RFC 6125 via x509.VerifyHostname).
func CertHasName(certFile, name string) error {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("serving certificate %s: %w", certFile, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return fmt.Errorf("serving certificate %s: no PEM CERTIFICATE block", certFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("serving certificate %s: %w", certFile, err)
	}
	if err := c.VerifyHostname(name); err != nil {
		return fmt.Errorf("serving certificate %s does not carry %q: %w", certFile, name, err)
	}
	return nil
}
