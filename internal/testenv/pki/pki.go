// Package pki generates, with crypto/x509 only, every certificate and key a
// local kubelet-less Kubernetes control plane needs: a cluster CA and an etcd
// CA, serving certificates for etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok (SANs 127.0.0.1 and localhost), client identities for
// the apiserver at etcd and for every component at the apiserver, and the
// service-account signing key pair.
//
// Keys are ECDSA P-256 in PKCS #8 PEM ("PRIVATE KEY", RFC 5958), written with
// mode 0600; certificates are PEM "CERTIFICATE" (RFC 5280) with mode 0644.
// Nothing in this package logs or returns key material.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Pair names a certificate file and its private key file.
type Pair struct {
	Cert string
	Key  string
}

// Files are the absolute paths of everything Generate wrote.
type Files struct {
	// CA signs the apiserver serving certificate, the component serving
	// certificates and every client certificate the apiserver accepts
	// (--client-ca-file).
	CA Pair
	// EtcdCA signs etcd's serving certificate and the apiserver's client
	// certificate at etcd (--trusted-ca-file with --client-cert-auth).
	EtcdCA Pair
	// EtcdServer serves etcd's client URL.
	EtcdServer Pair
	// EtcdClient is kube-apiserver's identity at etcd (CN kube-apiserver-etcd-client).
	EtcdClient Pair
	// APIServer serves kube-apiserver (SANs 127.0.0.1, localhost, the
	// kubernetes.default service names and the first service IP 10.0.0.1).
	APIServer Pair
	// Admin is CN kubernetes-admin, O system:masters.
	Admin Pair
	// ControllerManager is CN system:kube-controller-manager, O system:masters:
	// its controllers run with this identity, not per-controller service
	// accounts (see cluster's controller-manager flags).
	ControllerManager Pair
	// Scheduler is CN system:kube-scheduler.
	Scheduler Pair
	// User is CN handover-user, O kubeadm:cluster-admins: an administrator
	// outside system:masters (kubeadm's admin.conf since v1.29), so RBAC
	// and API Priority and Fairness apply to it. The apiserver grants it
	// nothing until a binding does (e.g. to cluster-admin).
	User Pair
	// Kwok is CN kwok-controller, O system:masters (it writes node and pod status).
	Kwok Pair
	// ControllerManagerServing, SchedulerServing and KwokServing serve the
	// components' health endpoints.
	ControllerManagerServing Pair
	SchedulerServing         Pair
	KwokServing              Pair
	// ServiceAccountKey signs service-account tokens (PKCS #8 PEM);
	// ServiceAccountPub verifies them (PKIX "PUBLIC KEY" PEM).
	ServiceAccountKey string
	ServiceAccountPub string
}

// Validity of the generated certificates. Leaves are backdated by an hour to
// tolerate small clock differences.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	backdate     = time.Hour
)

// Generate writes a fresh PKI into dir (created with mode 0700 if missing),
// with certificates valid from now-1h. It returns the paths, or an error
// naming the file or certificate that could not be made; on error some files
// may already exist in dir.
func Generate(dir string, now time.Time) (Files, error) {
	return GenerateWith(dir, now, Options{})
}

// Options add to what Generate issues.
type Options struct {
	// APIServerNames and APIServerIPs are added to the SANs of the
	// apiserver serving certificate: a control plane's stable endpoint name
	// (kubeadm's controlPlaneEndpoint) and the addresses it may resolve to.
	APIServerNames []string
	APIServerIPs   []net.IP
}

// GenerateWith is Generate with extra SANs on the apiserver serving
// certificate (Options).
func GenerateWith(dir string, now time.Time, opts Options) (Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("create pki dir: %w", err)
	}
	g := generator{dir: dir, now: now}
	var f Files
	var err error
	ca, err := g.ca("ca", "handover-local-ca", &f.CA)
	if err != nil {
		return Files{}, err
	}
	etcdCA, err := g.ca("etcd-ca", "handover-local-etcd-ca", &f.EtcdCA)
	if err != nil {
		return Files{}, err
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	leaves := []struct {
		name   string
		issuer *issuer
		subj   pkix.Name
		usage  x509.ExtKeyUsage
		dns    []string
		ips    []net.IP
		out    *Pair
	}{
		{"etcd-server", etcdCA, pkix.Name{CommonName: "etcd"}, x509.ExtKeyUsageServerAuth, []string{"localhost"}, loopback, &f.EtcdServer},
		{"etcd-client", etcdCA, pkix.Name{CommonName: "kube-apiserver-etcd-client"}, x509.ExtKeyUsageClientAuth, nil, nil, &f.EtcdClient},
		{"apiserver", ca, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
			append([]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, opts.APIServerNames...),
			append(append([]net.IP{net.IPv4(10, 0, 0, 1)}, loopback...), opts.APIServerIPs...), &f.APIServer},
		{"admin", ca, pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil, &f.Admin},
		{"kube-controller-manager", ca, pkix.Name{CommonName: "system:kube-controller-manager", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil, &f.ControllerManager},
		{"kube-scheduler", ca, pkix.Name{CommonName: "system:kube-scheduler"}, x509.ExtKeyUsageClientAuth, nil, nil, &f.Scheduler},
		{"user", ca, pkix.Name{CommonName: "handover-user", Organization: []string{"kubeadm:cluster-admins"}}, x509.ExtKeyUsageClientAuth, nil, nil, &f.User},
		{"kwok", ca, pkix.Name{CommonName: "kwok-controller", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil, &f.Kwok},
		{"kube-controller-manager-serving", ca, pkix.Name{CommonName: "kube-controller-manager"}, x509.ExtKeyUsageServerAuth, []string{"localhost"}, loopback, &f.ControllerManagerServing},
		{"kube-scheduler-serving", ca, pkix.Name{CommonName: "kube-scheduler"}, x509.ExtKeyUsageServerAuth, []string{"localhost"}, loopback, &f.SchedulerServing},
		{"kwok-serving", ca, pkix.Name{CommonName: "kwok"}, x509.ExtKeyUsageServerAuth, []string{"localhost"}, loopback, &f.KwokServing},
	}
	for _, l := range leaves {
		tmpl := &x509.Certificate{
			Subject:     l.subj,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{l.usage},
			DNSNames:    l.dns,
			IPAddresses: l.ips,
			NotBefore:   now.Add(-backdate),
			NotAfter:    now.Add(leafValidity),
		}
		if *l.out, err = g.leaf(l.name, tmpl, l.issuer); err != nil {
			return Files{}, err
		}
	}
	if f.ServiceAccountKey, f.ServiceAccountPub, err = g.serviceAccount(); err != nil {
		return Files{}, err
	}
	return f, nil
}

type issuer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type generator struct {
	dir string
	now time.Time
}

func (g generator) ca(name, cn string, out *Pair) (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", name, err)
	}
	// RFC 5280 §4.2.1.9: a CA certificate asserts basicConstraints cA=TRUE
	// and (§4.2.1.3) keyCertSign.
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		NotBefore:             g.now.Add(-backdate),
		NotAfter:              g.now.Add(caValidity),
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %s: %w", name, err)
	}
	if *out, err = g.write(name, der, key); err != nil {
		return nil, err
	}
	return &issuer{cert: cert, key: key}, nil
}

func (g generator) leaf(name string, tmpl *x509.Certificate, by *issuer) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("generate key for %s: %w", name, err)
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return Pair{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, by.cert, key.Public(), by.key)
	if err != nil {
		return Pair{}, fmt.Errorf("sign certificate %s: %w", name, err)
	}
	return g.write(name, der, key)
}

func (g generator) serviceAccount() (keyPath, pubPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate service-account key: %w", err)
	}
	keyPath = filepath.Join(g.dir, "sa.key")
	if err := writeKey(keyPath, key); err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", "", fmt.Errorf("marshal service-account public key: %w", err)
	}
	pubPath = filepath.Join(g.dir, "sa.pub")
	if err := writePEM(pubPath, "PUBLIC KEY", pub, 0o644); err != nil {
		return "", "", err
	}
	return keyPath, pubPath, nil
}

func (g generator) write(name string, der []byte, key *ecdsa.PrivateKey) (Pair, error) {
	p := Pair{Cert: filepath.Join(g.dir, name+".crt"), Key: filepath.Join(g.dir, name+".key")}
	if err := writePEM(p.Cert, "CERTIFICATE", der, 0o644); err != nil {
		return Pair{}, err
	}
	if err := writeKey(p.Key, key); err != nil {
		return Pair{}, err
	}
	return p, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal private key for %s: %w", filepath.Base(path), err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func writePEM(path, blockType string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// serial returns a random positive 128-bit serial number (RFC 5280 §4.1.2.2
// allows up to 20 octets).
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
