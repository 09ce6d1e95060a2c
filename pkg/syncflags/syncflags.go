// Package syncflags names usersync's command line as other programs write
// it — the flags that choose what a run syncs and how, and the environment
// variables a Kubernetes Job sets — in one place shared by the command and
// by the API's Job launcher, so that renaming a flag cannot silently break
// sync on demand. It also rewrites and reads back such command lines.
package syncflags

import (
	"strconv"
	"strings"

	"github.com/usersync/usersync/pkg/model"
)

// The flags that choose what a run syncs and how.
const (
	// Scope takes users, assets or all; usersync's default is users.
	Scope = "scope"
	// Full is Scope all.
	Full = "full"
	// Incremental asks for changes since the last run instead of a full
	// pass.
	Incremental = "incremental"
)

// Environment variables a Job sets for usersync.
const (
	// EnvTrigger is what started the run, recorded in sync_runs.
	EnvTrigger = "SYNC_TRIGGER"
	// EnvJobName is the Kubernetes Job running the sync, recorded in
	// sync_runs.
	EnvJobName = "JOB_NAME"
	// EnvIncremental is Incremental as an environment variable ("true").
	EnvIncremental = "SYNC_INCREMENTAL"
)

// Args is the command line that selects scope, and an incremental run when
// incremental is true: --scope <scope> [--incremental].
func Args(scope model.Scope, incremental bool) []string {
	args := []string{"--" + Scope, string(scope)}
	if incremental {
		args = append(args, "--"+Incremental)
	}
	return args
}

// WithoutModeFlags drops the flags that choose scope and mode (--scope X,
// --scope=X, --full, --full=B, --incremental, --incremental=B, with one dash
// or two) from args and keeps every other argument in order, so that the
// flags Args makes are the only ones: a --full left next to a --scope would
// make usersync refuse to run.
func WithoutModeFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		name, _, hasValue := parseFlag(args[i])
		switch name {
		case Scope:
			if !hasValue {
				i++ // the value is the next argument
			}
		case Full, Incremental:
		default:
			out = append(out, args[i])
		}
	}
	return out
}

// ModeOf tells what a command line asks usersync for: the scope — all with
// --full, else the last --scope, else users, usersync's default — and
// whether the run is incremental. usersync itself refuses --full next to a
// --scope other than all (exit 2); such a command line reads as all, what
// --full asks for.
func ModeOf(args []string) (scope model.Scope, incremental bool) {
	scope, full := model.ScopeUsers, false
	for i := 0; i < len(args); i++ {
		name, value, hasValue := parseFlag(args[i])
		switch name {
		case Scope:
			if !hasValue && i+1 < len(args) {
				i++
				value = args[i]
			}
			scope = model.Scope(value)
		case Full:
			full = boolFlag(value, hasValue)
		case Incremental:
			incremental = boolFlag(value, hasValue)
		}
	}
	if full {
		return model.ScopeAll, incremental
	}
	return scope, incremental
}

// boolFlag reads a boolean flag as Go's flag package does: present without
// a value is true.
func boolFlag(value string, hasValue bool) bool {
	if !hasValue {
		return true
	}
	b, _ := strconv.ParseBool(value)
	return b
}

// parseFlag splits "-name", "--name" or "--name=value" as Go's flag
// package reads them; name is "" for anything that is not a flag.
func parseFlag(arg string) (name, value string, hasValue bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return "", "", false
	}
	name = strings.TrimPrefix(arg[1:], "-")
	name, value, hasValue = strings.Cut(name, "=")
	return name, value, hasValue
}
