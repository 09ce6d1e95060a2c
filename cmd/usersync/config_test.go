package main

import (
	"io"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncflags"
)

// TestIncrementalModeFromFlagsAndEnvironment: --incremental as the Job
// launcher writes it (syncflags.Args), as a CronJob sets it
// (SYNC_INCREMENTAL), and a flag over the environment.
func TestIncrementalModeFromFlagsAndEnvironment(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u@db/mirror", "SNIPEIT_URL": "https://snipe.example.test", "SNIPEIT_TOKEN": "t"}
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		incremental bool
		scopes      []model.Scope
		lookBack    time.Duration
	}{
		{name: "a full run by default", scopes: []model.Scope{model.ScopeUsers}, lookBack: 5 * time.Minute},
		{name: "the launcher's command line", args: syncflags.Args(model.ScopeAll, true), incremental: true,
			scopes: model.Scopes, lookBack: 5 * time.Minute},
		{name: "the environment", env: map[string]string{"SYNC_INCREMENTAL": "true", "SYNC_LOOKBACK": "90s"}, args: []string{"--full"},
			incremental: true, scopes: model.Scopes, lookBack: 90 * time.Second},
		{name: "a flag over the environment", env: map[string]string{"SYNC_INCREMENTAL": "true"}, args: []string{"--incremental=false"},
			scopes: []model.Scope{model.ScopeUsers}, lookBack: 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := parseConfig("sync", tt.args, func(k string) string { return env[k] }, io.Discard, false)
			if err != nil {
				t.Fatal(err)
			}
			if c.incremental != tt.incremental || c.lookBack != tt.lookBack || len(c.scopes) != len(tt.scopes) {
				t.Errorf("incremental %v, look-back %s, scopes %v; want %v, %s, %v", c.incremental, c.lookBack, c.scopes, tt.incremental, tt.lookBack, tt.scopes)
			}
		})
	}
}
