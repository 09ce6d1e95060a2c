package api

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/usersync/usersync/pkg/model"
)

// The scopes a token can carry. sync includes read.
const (
	scopeRead = "read"
	scopeSync = "sync"
)

// TokenLine is one token of API_TOKENS_FILE.
type TokenLine struct {
	// Name says whose token it is in the export history; "" when the line
	// gives none.
	Name string
	// Scope is read or sync.
	Scope string
	// Token is the bearer token itself.
	Token string
}

// ReadTokenFile reads and parses the token file at path (ParseTokenFile).
// Its errors wrap model.ErrInvalid and never quote a token.
func ReadTokenFile(path string) ([]TokenLine, error) {
	return readSecretFile(path, "token file", ParseTokenFile)
}

// readSecretFile reads the file at path and parses it. Its errors wrap
// model.ErrInvalid and say what the file is; parse's name the line, never
// its content.
func readSecretFile[T any](path, what string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("%w: %s: %w", model.ErrInvalid, what, err)
	}
	v, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%w: %s %s: %w", model.ErrInvalid, what, path, err)
	}
	return v, nil
}

// ParseTokenFile parses the format of API_TOKENS_FILE: one
// `<scope>:<token>` or `<name>=<scope>:<token>` a line, scope read or sync,
// blank lines and `#` comments ignored, spaces around each part trimmed.
// It is the only parser of the format: the API's auth and `usersapi check`
// both read the file through it. Errors name the line, never its content.
//
// The name goes before the scope because a token may hold any character
// after the first colon, while no line valid before names existed has an
// = before it (its scope is read or sync), so every old file reads as it
// did.
func ParseTokenFile(data []byte) ([]TokenLine, error) {
	var lines []TokenLine
	err := eachSecretLine(data, func(n int, line string) error {
		head, token, ok := strings.Cut(line, ":")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			return fmt.Errorf("line %d: want <scope>:<token> or <name>=<scope>:<token>", n)
		}
		name, scope, named := strings.Cut(head, "=")
		if !named {
			name, scope = "", head
		}
		name, scope = strings.TrimSpace(name), strings.TrimSpace(scope)
		if named && !validTokenName(name) {
			return fmt.Errorf("line %d: a token name is 1-%d letters, digits, '.', '_', '-' or '@'", n, maxTokenName)
		}
		if scope != scopeRead && scope != scopeSync {
			return fmt.Errorf("line %d: scope must be %q or %q", n, scopeRead, scopeSync)
		}
		lines = append(lines, TokenLine{Name: name, Scope: scope, Token: token})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lines, nil
}

// eachSecretLine calls fn with each line of a file of secrets that says
// something — spaces around it trimmed, blank lines and `#` comments
// skipped — and its number, from 1; it stops at fn's first error. The
// token file and the webhook's secrets file are read through it.
func eachSecretLine(data []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		// A line beyond bufio's 64 KiB: no secret is that long.
		return fmt.Errorf("line too long: %w", err)
	}
	return nil
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
