package trust

import (
	"errors"
	"strings"
	"testing"
)

func TestParseKeyAlgorithm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want KeyAlgorithm
	}{
		{"", AlgorithmECDSAP256},
		{"ecdsa-p256", AlgorithmECDSAP256},
		{"ECDSAP256", AlgorithmECDSAP256},
		{"rsa-2048", AlgorithmRSA2048},
		{"RSA2048", AlgorithmRSA2048},
		{"RSA3072", AlgorithmRSA3072},
		{"rsa4096", AlgorithmRSA4096},
		{"Ed25519", AlgorithmEd25519},
		{"ed25519", AlgorithmEd25519},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKeyAlgorithm(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseKeyAlgorithm(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	_, err := ParseKeyAlgorithm("dsa")
	if !errors.Is(err, ErrUnsupportedKey) || !strings.Contains(err.Error(), "ecdsa-p256 (ECDSAP256)") || !strings.Contains(err.Error(), "rsa-3072 (RSA3072)") {
		t.Fatalf("unknown algorithm error %v, want ErrUnsupportedKey listing both spellings", err)
	}
}
