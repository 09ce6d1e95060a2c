package api_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/api"
)

// FuzzTokenFile feeds the token file parser arbitrary files: it never
// panics, an error never quotes what follows a line's first colon, and a
// file it accepts yields, for every token line in order, its name, scope
// and token.
func FuzzTokenFile(f *testing.F) {
	for _, s := range []string{"read:abc\n", "a=read:b\n", "=read:x", "read=sync:y\n# c\n", "read:\n", ":\n", "x=y=read:z",
		"read:a:b=c\r\n", "\xff=read:z", strings.Repeat("a", 70) + "=read:t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		lines, err := api.ParseTokenFile([]byte(content))
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
		var want []api.TokenLine
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
			want = append(want, api.TokenLine{Name: strings.TrimSpace(name), Scope: strings.TrimSpace(scope), Token: strings.TrimSpace(token)})
		}
		if diff := cmp.Diff(want, lines); diff != "" {
			t.Fatalf("ParseTokenFile(%q) (-want +got):\n%s", content, diff)
		}
	})
}

func TestParseTokenFile(t *testing.T) {
	got, err := api.ParseTokenFile([]byte("# operators\nread:r-token\n  sync : s-token  \nfinance.reports=read:a=b:c\r\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []api.TokenLine{{Scope: "read", Token: "r-token"}, {Scope: "sync", Token: "s-token"},
		{Name: "finance.reports", Scope: "read", Token: "a=b:c"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
