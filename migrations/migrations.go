// Package migrations embeds the numbered SQL migrations of the mirror's
// schema (goose format). pkg/postgres applies them.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
