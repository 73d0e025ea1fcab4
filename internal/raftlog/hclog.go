package raftlog

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hcLogger routes hashicorp/raft's and raft-wal's logs (go-hclog) to slog,
// under component=raft. Raft's trace and debug lines become slog debug.
type hcLogger struct {
	l    *slog.Logger
	name string
	args []any
}

func newHCLogger(l *slog.Logger) hclog.Logger {
	return &hcLogger{l: l.With("component", "raft")}
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// routine lists raft's lines that report the normal course of things at a
// level meant for trouble; they go to debug.
var routine = map[string]bool{
	// The transport asks dialer for an override before every dial, and an
	// id without one (every id, without cluster.dial) got this at warn:
	// hundreds of lines a second while a member was down, burying the ones
	// that said what was wrong.
	"unable to get address for server, using fallback address": true,
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if routine[msg] {
		lv = slog.LevelDebug
	}
	if !h.l.Enabled(context.Background(), lv) {
		return
	}
	if h.name != "" {
		args = append(args, "raft_part", h.name)
	}
	h.l.Log(context.Background(), lv, msg, append(append([]any(nil), h.args...), fixArgs(args)...)...)
}

// fixArgs keeps slog from misreading hclog's odd-length argument lists.
func fixArgs(args []any) []any {
	if len(args)%2 == 1 {
		args = append(args[:len(args)-1:len(args)-1], "extra", args[len(args)-1])
	}
	for i := 0; i < len(args); i += 2 {
		if _, ok := args[i].(string); !ok {
			args[i] = "arg"
		}
	}
	return args
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) IsTrace() bool { return false }
func (h *hcLogger) IsDebug() bool { return h.l.Enabled(context.Background(), slog.LevelDebug) }
func (h *hcLogger) IsInfo() bool  { return h.l.Enabled(context.Background(), slog.LevelInfo) }
func (h *hcLogger) IsWarn() bool  { return h.l.Enabled(context.Background(), slog.LevelWarn) }
func (h *hcLogger) IsError() bool { return h.l.Enabled(context.Background(), slog.LevelError) }

func (h *hcLogger) ImpliedArgs() []any { return h.args }

func (h *hcLogger) With(args ...any) hclog.Logger {
	return &hcLogger{l: h.l, name: h.name, args: append(append([]any(nil), h.args...), fixArgs(args)...)}
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	n := name
	if h.name != "" {
		n = h.name + "." + name
	}
	return &hcLogger{l: h.l, name: n, args: h.args}
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{l: h.l, name: name, args: h.args}
}

func (h *hcLogger) SetLevel(hclog.Level) {}

func (h *hcLogger) GetLevel() hclog.Level {
	switch {
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (h *hcLogger) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelInfo)
}

func (h *hcLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}
