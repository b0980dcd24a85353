// Package proc is handover's one process supervisor: it starts binaries as
// process-group leaders with their output appended to a log file, identifies
// them by PID plus start time (so a reused PID is never signalled), finds and
// adopts orphans by command line, and stops them with SIGTERM then SIGKILL.
//
// Two layers:
//   - Handle, Start, Running, Stop, StopAll: one process known by value (the
//     testenv cluster records Handles in its state.json);
//   - Dir: named processes under one directory with a pid file per name
//     (<dir>/<name>.pid) and a log (<dir>/<name>.log), so a later run of the
//     CLI finds, adopts and stops what an earlier, killed run started (the
//     etcd and kube-apiserver provisioners).
//
// Linux only: it reads /proc/<pid>/stat and /proc/<pid>/cmdline (proc(5)).
package proc
