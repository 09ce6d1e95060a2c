package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
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
	path       string
	checkEvery time.Duration
	log        *slog.Logger

	mu      sync.RWMutex
	entries []tokenEntry
	stamp   fileStamp
	// nextCheck is when the file may next be stat'ed, in UnixNano; it keeps
	// the syscall off most requests.
	nextCheck atomic.Int64
}

// tokenEntry keeps a token's SHA-256, never the token: comparing digests
// of equal length in constant time reveals nothing about any token's
// length or prefix.
type tokenEntry struct {
	digest [sha256.Size]byte
	scope  string
	name   string
}

// fileStamp tells whether the file changed since it was read. Kubernetes
// swaps a symlink to a freshly written file, so os.Stat (which follows the
// link) sees a new modification time.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(st os.FileInfo) fileStamp { return fileStamp{mod: st.ModTime(), size: st.Size()} }

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
	t := &Tokens{path: cfg.Path, checkEvery: cfg.CheckEvery, log: cfg.Logger}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	entries, stamp, err := readTokens(cfg.Path)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: token file %s holds no token (want lines of [<name>=]<scope>:<token>)", model.ErrInvalid, cfg.Path)
	}
	t.entries, t.stamp = entries, stamp
	t.nextCheck.Store(time.Now().Add(t.checkEvery).UnixNano())
	return t, nil
}

// readTokens reads the file's stamp, then its tokens as digests.
func readTokens(path string) ([]tokenEntry, fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("%w: token file: %w", model.ErrInvalid, err)
	}
	lines, err := ReadTokenFile(path)
	if err != nil {
		return nil, fileStamp{}, err
	}
	entries := make([]tokenEntry, len(lines))
	for i, l := range lines {
		entries[i] = tokenEntry{digest: sha256.Sum256([]byte(l.Token)), scope: l.Scope, name: l.Name}
	}
	return entries, stampOf(st), nil
}

// Len reports how many tokens are loaded.
func (t *Tokens) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.entries)
}

// lookup returns the scope and name of token: scope "" when no token
// matches, name "" when the matching line gives none. Every entry is
// compared, whatever matches, so timing says nothing about which. A token
// listed twice has the wider of its scopes and the first name given.
func (t *Tokens) lookup(token string) (scope, name string) {
	t.reloadIfChanged()
	d := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.entries {
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

// reloadIfChanged rereads the file when its stamp changed; only one
// request at a time gets to check.
func (t *Tokens) reloadIfChanged() {
	next := t.nextCheck.Load()
	now := time.Now().UnixNano()
	if now < next || !t.nextCheck.CompareAndSwap(next, now+int64(t.checkEvery)) {
		return
	}
	st, err := os.Stat(t.path)
	if err != nil {
		t.log.Warn("token file unreadable; keeping the tokens loaded before", "err", err)
		return
	}
	t.mu.RLock()
	same := stampOf(st) == t.stamp
	t.mu.RUnlock()
	if same {
		return
	}
	entries, stamp, err := readTokens(t.path)
	if err != nil {
		t.log.Warn("token file changed but cannot be used; keeping the tokens loaded before", "err", err)
		return
	}
	t.mu.Lock()
	t.entries, t.stamp = entries, stamp
	t.mu.Unlock()
	if len(entries) == 0 {
		t.log.Warn("token file reloaded without a token: every request that needs one is refused")
		return
	}
	t.log.Info("reloaded token file", "tokens", len(entries))
}
