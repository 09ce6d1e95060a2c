package api

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// FuzzTokenFile feeds the token file parser arbitrary files: it never
// panics, an error never quotes what follows a line's first colon, and a
// file it accepts yields, for every token line, the token's digest with
// its scope and name.
func FuzzTokenFile(f *testing.F) {
	for _, s := range []string{"read:abc\n", "a=read:b\n", "=read:x", "read=sync:y\n# c\n", "read:\n", ":\n", "x=y=read:z",
		"read:a:b=c\r\n", "\xff=read:z", strings.Repeat("a", 70) + "=read:t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		entries, err := parseTokens([]byte(content))
		if err != nil {
			for line := range strings.SplitSeq(content, "\n") {
				_, secret, ok := strings.Cut(line, ":")
				secret = strings.TrimSpace(secret)
				if ok && len(secret) >= 6 && strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q quotes a token %q", err, secret)
				}
			}
			return
		}
		i := 0
		for line := range strings.SplitSeq(content, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			head, token, _ := strings.Cut(line, ":")
			name, scope, named := strings.Cut(head, "=")
			if !named {
				name, scope = "", head
			}
			e := entries[i]
			i++
			if e.digest != sha256.Sum256([]byte(strings.TrimSpace(token))) || e.scope != strings.TrimSpace(scope) ||
				e.name != strings.TrimSpace(name) {
				t.Fatalf("line %q parsed as scope %q, name %q", line, e.scope, e.name)
			}
		}
		if i != len(entries) {
			t.Fatalf("%d token lines, %d entries", i, len(entries))
		}
	})
}
