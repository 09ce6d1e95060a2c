package postgres

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/usersync/usersync/pkg/model"
)

// MaxPageLimit caps model.Page.Limit for every keyset-paged listing.
const MaxPageLimit = 1000

// pageBounds validates p and returns its limit and the id its cursor
// points after (0 for the first page).
func pageBounds(p model.Page, kind cursorKind) (limit int, after int64, err error) {
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return 0, 0, fmt.Errorf("%w: page limit %d is not within 1…%d", model.ErrInvalid, p.Limit, MaxPageLimit)
	}
	if p.Cursor == "" {
		return p.Limit, 0, nil
	}
	after, err = decodeCursor(kind, p.Cursor)
	return p.Limit, after, err
}

// trimPage cuts the extra row listPage asked for and, when it was there,
// returns the cursor of the page that starts after the last row kept.
func trimPage[T any](rows []T, limit int, kind cursorKind, id func(*T) int64) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, encodeCursor(kind, id(&rows[limit-1]))
}

// cursorKind binds a cursor to the listing that issued it, so a users
// cursor handed to /assets is refused instead of silently skipping rows.
type cursorKind byte

const (
	cursorUsers cursorKind = iota + 1
	cursorAssets
	cursorRuns
	cursorExports
)

// cursorVersion is the first byte of every cursor; a change of the format
// bumps it, so cursors from an older release fail cleanly.
const cursorVersion = 1

// A cursor is base64url(version, kind, id as 8 bytes, 4 bytes of SHA-256
// over the rest). The checksum is not a secret: it makes a cursor that was
// truncated, mistyped or hand-edited fail as invalid rather than page from
// somewhere unexpected. Paging through another id by forging one reveals
// nothing a filterless listing would not.
const cursorLen = 1 + 1 + 8 + 4

func encodeCursor(kind cursorKind, id int64) string {
	var b [cursorLen]byte
	b[0] = cursorVersion
	b[1] = byte(kind)
	binary.BigEndian.PutUint64(b[2:10], uint64(id))
	sum := sha256.Sum256(b[:10])
	copy(b[10:], sum[:4])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(kind cursorKind, s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen {
		return 0, fmt.Errorf("%w: malformed cursor", model.ErrInvalid)
	}
	if b[0] != cursorVersion {
		return 0, fmt.Errorf("%w: cursor from another version; start again without it", model.ErrInvalid)
	}
	sum := sha256.Sum256(b[:10])
	if string(sum[:4]) != string(b[10:]) {
		return 0, fmt.Errorf("%w: malformed cursor", model.ErrInvalid)
	}
	if cursorKind(b[1]) != kind {
		return 0, fmt.Errorf("%w: cursor belongs to another listing", model.ErrInvalid)
	}
	return int64(binary.BigEndian.Uint64(b[2:10])), nil
}
