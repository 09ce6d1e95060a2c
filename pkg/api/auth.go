package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/usersync/usersync/pkg/model"
)

// The scopes a token can carry. sync includes read.
const (
	scopeRead = "read"
	scopeSync = "sync"
)

// securityScheme names the bearer scheme in the OpenAPI document.
const securityScheme = "bearer"

// Tokens is the set of bearer tokens read from API_TOKENS_FILE: one
// `[<name>=]<scope>:<token>` a line, scope read or sync, `#` comments. The
// optional name says whose token it is in the export history (the token
// itself is never recorded or logged). It rereads
// the file when it changes (checked at most once per CheckEvery), so a
// rotated Kubernetes Secret takes effect without a restart; a file that
// fails to parse is logged and the previous tokens stay in force.
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
	entries, stamp, err := readTokenFile(cfg.Path)
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

func readTokenFile(path string) ([]tokenEntry, fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("%w: token file: %w", model.ErrInvalid, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("%w: token file: %w", model.ErrInvalid, err)
	}
	entries, err := parseTokens(data)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("%w: token file %s: %w", model.ErrInvalid, path, err)
	}
	return entries, stampOf(st), nil
}

// parseTokens parses the token file format. Errors name the line, never
// its content.
//
// A line is `<scope>:<token>` or, with a name, `<name>=<scope>:<token>`:
// the name goes before the scope because a token may hold any character
// after the first colon, while no line valid before names existed has an
// = before it (its scope is read or sync), so every old file reads as it
// did.
func parseTokens(data []byte) ([]tokenEntry, error) {
	var entries []tokenEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		head, token, ok := strings.Cut(line, ":")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			return nil, fmt.Errorf("line %d: want <scope>:<token> or <name>=<scope>:<token>", n)
		}
		name, scope, named := strings.Cut(head, "=")
		if !named {
			name, scope = "", head
		}
		name, scope = strings.TrimSpace(name), strings.TrimSpace(scope)
		if named && !validTokenName(name) {
			return nil, fmt.Errorf("line %d: a token name is 1-%d letters, digits, '.', '_', '-' or '@'", n, maxTokenName)
		}
		if scope != scopeRead && scope != scopeSync {
			return nil, fmt.Errorf("line %d: scope must be %q or %q", n, scopeRead, scopeSync)
		}
		entries = append(entries, tokenEntry{digest: sha256.Sum256([]byte(token)), scope: scope, name: name})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return entries, nil
}

// maxTokenName bounds a token's name.
const maxTokenName = 64

// validTokenName accepts names that are safe in logs, CSV and URLs as they
// are: ASCII letters, digits and . _ - @.
func validTokenName(name string) bool {
	if name == "" || len(name) > maxTokenName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-@", c) >= 0) {
			return false
		}
	}
	return true
}

// Len reports how many tokens are loaded.
func (t *Tokens) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.entries)
}

// scopeOf returns the scope of token, or "" when no token matches. Every
// entry is compared, whatever matches, so timing says nothing about which.
func (t *Tokens) scopeOf(token string) string {
	t.reloadIfChanged()
	d := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	scope := ""
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 && (scope == "" || e.scope == scopeSync) {
			scope = e.scope
		}
	}
	return scope
}

// nameOf returns the name of token in the file, or "" when it has none or
// is unknown. Like scopeOf it compares every entry.
func (t *Tokens) nameOf(token string) string {
	t.reloadIfChanged()
	d := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	name := ""
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 && name == "" {
			name = e.name
		}
	}
	return name
}

// tokenName is the name of the token an Authorization header carries, for
// the export history: "" without a token, a name or a token file.
func (s *service) tokenName(authorization string) string {
	token, present, err := bearerToken(authorization)
	if err != nil || !present || s.deps.Tokens == nil {
		return ""
	}
	return s.deps.Tokens.nameOf(token)
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
	entries, stamp, err := readTokenFile(t.path)
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

// declareSecurity adds the bearer scheme to the OpenAPI document.
func declareSecurity(oapi *huma.OpenAPI) {
	if oapi.Components.SecuritySchemes == nil {
		oapi.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	oapi.Components.SecuritySchemes[securityScheme] = &huma.SecurityScheme{
		Type:        "http",
		Scheme:      "bearer",
		Description: "A token from API_TOKENS_FILE. Scope read allows the GET operations; sync also allows starting syncs.",
	}
}

// security is an operation's OpenAPI security requirement for scope. When
// reads are public, a read operation also lists the empty requirement:
// a token is optional.
func (s *service) security(scope string) []map[string][]string {
	req := []map[string][]string{{securityScheme: {scope}}}
	if scope == scopeRead && s.deps.PublicReads {
		req = append(req, map[string][]string{})
	}
	return req
}

// authenticate is the huma middleware that enforces each operation's
// declared scope. A request without a token gets 401 (unless the scope is
// read and reads are public); a token that matches nothing gets 401 even
// then, so a misconfigured client learns its token is wrong; a token
// without the scope gets 403.
//
// Auth fails closed: an operation that declares no scope needs the
// strongest one, sync, unless it is marked public (withPublic).
func (s *service) authenticate(hctx huma.Context, next func(huma.Context)) {
	op := hctx.Operation()
	need := requiredScope(op)
	if need == "" {
		if isPublic(op) {
			next(hctx)
			return
		}
		need = scopeSync
	}
	token, present, err := bearerToken(hctx.Header("Authorization"))
	if err != nil {
		s.writeError(hctx, err)
		return
	}
	if !present {
		if need == scopeRead && s.deps.PublicReads {
			next(hctx)
			return
		}
		s.writeError(hctx, fmt.Errorf("%w: this operation needs a bearer token with scope %s", model.ErrUnauthorized, need))
		return
	}
	have := ""
	if s.deps.Tokens != nil {
		have = s.deps.Tokens.scopeOf(token)
	}
	switch {
	case have == "":
		s.writeError(hctx, fmt.Errorf("%w: unknown bearer token", model.ErrUnauthorized))
	case need == scopeSync && have != scopeSync:
		s.writeError(hctx, fmt.Errorf("%w: this operation needs a token with scope %s", model.ErrForbidden, need))
	default:
		next(hctx)
	}
}

// publicMetadata, set to true in an operation's Metadata, marks it
// public: no token needed, whatever PUBLIC_READS says. The probes,
// /metrics and the documents are public but are not huma operations;
// no operation is public today.
const publicMetadata = "usersapi-public"

func isPublic(op *huma.Operation) bool {
	public, _ := op.Metadata[publicMetadata].(bool)
	return public
}

// requiredScope reads the scope an operation declared in its security
// requirement; "" when it declared none.
func requiredScope(op *huma.Operation) string {
	for _, req := range op.Security {
		if scopes := req[securityScheme]; len(scopes) > 0 {
			return scopes[0]
		}
	}
	return ""
}

// bearerToken extracts the token of an Authorization header. A header in
// another scheme is an error: the client meant to authenticate.
func bearerToken(header string) (token string, present bool, err error) {
	if header == "" {
		return "", false, nil
	}
	scheme, token, _ := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false, fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", model.ErrUnauthorized)
	}
	return token, true, nil
}
