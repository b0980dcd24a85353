// Package deps pins modules that later issues build on (etcd embed,
// controller-runtime, prometheus) so `go mod tidy` keeps them resolved before
// their first importer lands. Remove an import once a real package uses it.
package deps

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/go-logr/logr"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "go.uber.org/zap"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/utils/clock"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
)
