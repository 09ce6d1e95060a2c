package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// Tokens is the set of bearer tokens read from API_TOKENS_FILE (see
// ParseTokenFile). It keeps each token's digest, scope and name, never the
// token. It rereads the file when it changes (checked at most once per
// CheckEvery), so a rotated Kubernetes Secret takes effect without a
// restart; a file that fails to parse is logged and the previous tokens
// stay in force.
type Tokens struct {
	file reloadingFile[[]tokenEntry]
}

// tokenEntry keeps a token's SHA-256, never the token: comparing digests
// of equal length in constant time reveals nothing about any token's
// length or prefix.
type tokenEntry struct {
	digest [sha256.Size]byte
	scope  string
	name   string
}

// TokensConfig configures LoadTokens.
type TokensConfig struct {
	// Path is the token file.
	Path string
	// CheckEvery is how often a request may trigger a check for a changed
	// file; 0 checks on every request.
	CheckEvery time.Duration
	// Logger receives reloads and reload failures (never a token).
	Logger *slog.Logger
}

// LoadTokens reads the token file. An unreadable or malformed file, or
// one without a single token, is an error wrapping model.ErrInvalid: a
// deployment with a broken secret should not start, and one that nobody
// could use is broken. (A file emptied later is obeyed: every request that
// needs a token is refused until tokens come back.)
func LoadTokens(cfg TokensConfig) (*Tokens, error) {
	t := &Tokens{file: reloadingFile[[]tokenEntry]{path: cfg.Path, what: "token file", checkEvery: cfg.CheckEvery,
		parse: readTokens, reloaded: logTokensReloaded, log: cfg.Logger}}
	if err := t.file.load(); err != nil {
		return nil, err
	}
	if len(t.file.value) == 0 {
		return nil, fmt.Errorf("%w: token file %s holds no token (want lines of [<name>=]<scope>:<token>)", model.ErrInvalid, cfg.Path)
	}
	return t, nil
}

// logTokensReloaded says what a reloaded token file holds.
func logTokensReloaded(log *slog.Logger, entries []tokenEntry) {
	if len(entries) == 0 {
		log.Warn("token file reloaded without a token: every request that needs one is refused")
		return
	}
	log.Info("reloaded token file", "tokens", len(entries))
}

// readTokens reads the file's tokens as digests.
func readTokens(path string) ([]tokenEntry, error) {
	lines, err := ReadTokenFile(path)
	if err != nil {
		return nil, err
	}
	entries := make([]tokenEntry, len(lines))
	for i, l := range lines {
		entries[i] = tokenEntry{digest: sha256.Sum256([]byte(l.Token)), scope: l.Scope, name: l.Name}
	}
	return entries, nil
}

// Len reports how many tokens are loaded.
func (t *Tokens) Len() int {
	return len(t.file.get())
}

// lookup returns the scope and name of token: scope "" when no token
// matches, name "" when the matching line gives none. Every entry is
// compared, whatever matches, so timing says nothing about which. A token
// listed twice has the wider of its scopes and the first name given.
func (t *Tokens) lookup(token string) (scope, name string) {
	d := sha256.Sum256([]byte(token))
	for _, e := range t.file.get() {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) != 1 {
			continue
		}
		if name == "" {
			name = e.name
		}
		if scope == "" || e.scope == scopeSync {
			scope = e.scope
		}
	}
	return scope, name
}
