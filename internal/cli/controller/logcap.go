package controller

import "github.com/go-logr/logr"

// MaxLogVerbosity is the highest V-level the controller emits, whatever
// --zap-log-level says. client-go logs through the logger in the request's
// context (controller-runtime puts this logger there): URLs and status at
// V(6), request headers at V(7), and request and response bodies from
// V(8) on (k8s.io/client-go/rest/request.go logBody, transport
// round_trippers.go). A body of a Secret is key material: the managed
// copy's CA key, every leaf key. So V(7) and above are never emitted.
const MaxLogVerbosity = 6

// capVerbosity returns log with every V-level above max disabled, for the
// logger itself and every logger derived from it (WithName, WithValues,
// V, and client-go's klog.FromContext(ctx).V(n), which is the same sink).
func capVerbosity(log logr.Logger, max int) logr.Logger {
	sink := log.GetSink()
	if sink == nil {
		return log
	}
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1) // cappedSink.Info is one more frame
	}
	return logr.New(&cappedSink{LogSink: sink, max: max})
}

// cappedSink wraps a logr.LogSink: Enabled is false above max. Info
// re-checks, for callers that skip Enabled.
type cappedSink struct {
	logr.LogSink
	max int
}

func (s *cappedSink) Enabled(level int) bool { return level <= s.max && s.LogSink.Enabled(level) }

func (s *cappedSink) Info(level int, msg string, kv ...any) {
	if level > s.max {
		return
	}
	s.LogSink.Info(level, msg, kv...)
}

func (s *cappedSink) WithValues(kv ...any) logr.LogSink {
	return &cappedSink{LogSink: s.LogSink.WithValues(kv...), max: s.max}
}

func (s *cappedSink) WithName(name string) logr.LogSink {
	return &cappedSink{LogSink: s.LogSink.WithName(name), max: s.max}
}

// WithCallDepth keeps caller annotations right when the wrapped sink
// supports them (zap does).
func (s *cappedSink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return &cappedSink{LogSink: cd.WithCallDepth(depth), max: s.max}
	}
	return s
}

var _ logr.CallDepthLogSink = (*cappedSink)(nil)
