package model

import "time"

// Reference is a record users and assets show by name: a department, a
// location or a company. Renaming one in Snipe-IT moves its own updated_at
// and no user's or asset's, so an incremental sync compares these names
// with the mirror's.
type Reference struct {
	ID        int64
	Name      string // HTML-decoded
	UpdatedAt *time.Time
}
