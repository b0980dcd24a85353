// Command cert-manager-controller runs cert-manager's own certificate
// controllers (github.com/cert-manager/cert-manager/pkg/controller, the
// module version pinned in go.mod) against one kube-apiserver, for
// handover's tests. cert-manager publishes its controller's main package in
// a separate module that the Go module proxy does not serve, so this is a
// minimal main over the published library: the same controller registry,
// context factory and shared informers as cert-manager's own binary, with
// only the controllers a CA or SelfSigned Issuer needs. No leader election,
// no metrics or health server, no ACME, Vault or Venafi.
//
// Usage: cert-manager-controller --kubeconfig FILE [--namespace NS] [--controllers a,b]
// It runs until SIGINT/SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"

	// The controllers register themselves with controllerpkg in init.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer kinds the issuers controller can set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// defaultControllers are cert-manager's Certificate pipeline plus the CA and
// SelfSigned issuers and the built-in approver.
var defaultControllers = []string{
	"certificaterequests-approver",
	"certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned",
	"certificates-issuing",
	"certificates-key-manager",
	"certificates-readiness",
	"certificates-request-manager",
	"certificates-revision-manager",
	"certificates-trigger",
	"issuers",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the target kube-apiserver")
	namespace := flag.String("namespace", "", "watch only this namespace (default: all)")
	names := flag.String("controllers", strings.Join(defaultControllers, ","), "controllers to run")
	workers := flag.Int("workers", 2, "workers per controller")
	flag.Parse()
	if *kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		Namespace:          *namespace,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: "cert-manager"},
		CertificateOptions: controllerpkg.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return fmt.Errorf("context factory: %w", err)
	}
	known := controllerpkg.Known()
	var run []controllerpkg.Interface
	for _, name := range strings.Split(*names, ",") {
		ctor, ok := known[name]
		if !ok {
			return fmt.Errorf("unknown controller %q (known: %s)", name, knownNames(known))
		}
		c, err := ctor(factory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		run = append(run, c)
	}
	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("context: %w", err)
	}
	// The controllers asked the shared factories for their informers while
	// being built; start them now (as cert-manager's binary does).
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())

	fmt.Fprintf(os.Stderr, "cert-manager-controller: running %d controllers\n", len(run))
	var wg sync.WaitGroup
	errs := make(chan error, len(run))
	for _, c := range run {
		wg.Add(1)
		go func(c controllerpkg.Interface) {
			defer wg.Done()
			if err := c.Run(*workers, ctx); err != nil {
				errs <- err
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}

func knownNames(m map[string]controllerpkg.Constructor) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
