package syncflags

import (
	"slices"
	"testing"

	"github.com/usersync/usersync/pkg/model"
)

func TestModeOf(t *testing.T) {
	tests := []struct {
		args        []string
		scope       model.Scope
		incremental bool
	}{
		{nil, model.ScopeUsers, false},
		{[]string{"--full"}, model.ScopeAll, false},
		{[]string{"-full"}, model.ScopeAll, false},
		{[]string{"--full=false"}, model.ScopeUsers, false},
		{[]string{"--scope", "assets"}, model.ScopeAssets, false},
		{[]string{"--scope=assets"}, model.ScopeAssets, false},
		{[]string{"-scope", "all"}, model.ScopeAll, false},
		{[]string{"--scope", "assets", "--scope", "users"}, model.ScopeUsers, false},
		// usersync refuses this (exit 2); it reads as what --full asks.
		{[]string{"--full", "--scope", "assets"}, model.ScopeAll, false},
		{[]string{"--dry-run", "--scope", "assets", "--allow-mass-delete"}, model.ScopeAssets, false},
		{[]string{"--full", "--incremental"}, model.ScopeAll, true},
		{[]string{"--incremental=false", "--scope", "assets"}, model.ScopeAssets, false},
		{[]string{"-incremental=true"}, model.ScopeUsers, true},
	}
	for _, tt := range tests {
		scope, incremental := ModeOf(tt.args)
		if scope != tt.scope || incremental != tt.incremental {
			t.Errorf("ModeOf(%q) = %s, %v; want %s, %v", tt.args, scope, incremental, tt.scope, tt.incremental)
		}
	}
}

// TestArgsReplaceEveryModeFlag: whatever scope and mode flags a command
// line carries, Args after WithoutModeFlags selects exactly what was asked
// and keeps every other flag, in order.
func TestArgsReplaceEveryModeFlag(t *testing.T) {
	others := []string{"--log-level", "debug", "--allow-mass-delete"}
	for _, template := range [][]string{
		nil, {"--full"}, {"-full"}, {"--full=true"}, {"--full=false"}, {"--scope=assets"}, {"--scope", "assets"},
		{"-scope", "assets"}, {"-scope=all"}, {"--full", "--scope", "all"}, {"--scope", "users", "--full"},
		{"--incremental"}, {"--full", "--incremental=true"},
	} {
		for _, scope := range []model.Scope{model.ScopeUsers, model.ScopeAssets, model.ScopeAll} {
			for _, incremental := range []bool{false, true} {
				line := slices.Concat(others[:2], template, others[2:])
				got := slices.Concat(Args(scope, incremental), WithoutModeFlags(line))
				want := slices.Concat([]string{"--scope", string(scope)}, others)
				if incremental {
					want = slices.Concat([]string{"--scope", string(scope), "--incremental"}, others)
				}
				if !slices.Equal(got, want) {
					t.Errorf("template %q, scope %s, incremental %v: got %q, want %q", template, scope, incremental, got, want)
				}
				if s, inc := ModeOf(got); s != scope || inc != incremental {
					t.Errorf("ModeOf(%q) = %s, %v; want %s, %v", got, s, inc, scope, incremental)
				}
			}
		}
	}
}
