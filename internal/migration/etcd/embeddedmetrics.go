package etcd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// memberMetrics is one embedded member's own gRPC server metrics. etcd
// registers its metrics (grpc_server_handled_total among them) in
// Prometheus' default registry, one per process, so every embedded member
// of a process serves the sum of all of them on /metrics and no member's
// own client traffic can be read there. Each member started by Embedded
// therefore also counts its gRPC calls with its own grpc_prometheus
// ServerMetrics (the same metric names and labels etcd uses) in its own
// registry, served at URL()/metrics on a loopback port of its own.
type memberMetrics struct {
	reg *prometheus.Registry
	srv *http.Server
	url string
}

// newMemberMetrics registers a ServerMetrics in a new registry and serves
// it on 127.0.0.2 (or 127.0.0.1 when that address is missing) at a port
// the kernel picks.
func newMemberMetrics() (*memberMetrics, *grpcprom.ServerMetrics, error) {
	sm := grpcprom.NewServerMetrics()
	reg := prometheus.NewRegistry()
	if err := reg.Register(sm); err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, nil, err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &memberMetrics{reg: reg, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, url: "http://" + l.Addr().String()}
	go func() {
		if err := m.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = l.Close()
		}
	}()
	return m, sm, nil
}

// serverOptions adds sm's interceptors to a member's gRPC servers
// (embed.Config.GRPCAdditionalServerOptions; gRPC chains them after etcd's
// own).
func serverOptions(sm *grpcprom.ServerMetrics) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(sm.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(sm.StreamServerInterceptor()),
	}
}

func (m *memberMetrics) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
}
