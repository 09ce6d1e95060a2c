package api

import "testing"

// TestUsableAccept: what huma's negotiation would misread goes, what it can
// use stays — "json" would otherwise come back as Content-Type: json.
func TestUsableAccept(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"application/json", "application/json"},
		{"text/csv;q=0.9, application/json", "text/csv;q=0.9, application/json"},
		{"json", ""},
		{"text/csv, json", "text/csv"},
		{"*/*", "*/*"},
		{"/json, application/", ""},
		{";;,,", ""},
		{"application/json;json;q=0ext/csv", ""},
	} {
		if got := usableAccept(c.in); got != c.want {
			t.Errorf("usableAccept(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
