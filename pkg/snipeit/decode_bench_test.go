package snipeit

import (
	"io"
	"net/http"
	"testing"

	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// simPage fetches one full page (500 rows) of path from a simulator with
// generated data: the body the decoder meets in a real sync.
func simPage(b *testing.B, path string) []byte {
	b.Helper()
	sim := snipeittest.Start(b, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 1000, Assets: 1000, Seed: 1})})
	req, err := http.NewRequest(http.MethodGet, sim.URL()+"/api/v1"+path+"?limit=500&offset=0&sort=id&order=asc", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+sim.Token())
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return body
}

// BenchmarkDecodeUsersPage decodes a page of 500 users: the client's CPU
// per row without HTTP.
func BenchmarkDecodeUsersPage(b *testing.B) {
	body := simPage(b, "/users")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodeUsers(body)
		if err != nil || len(p.rows) != 500 {
			b.Fatalf("%d rows, %v", len(p.rows), err)
		}
	}
}

// BenchmarkDecodeHardwarePage decodes a page of 500 assets.
func BenchmarkDecodeHardwarePage(b *testing.B) {
	body := simPage(b, "/hardware")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodeAssets(body)
		if err != nil || len(p.rows) != 500 {
			b.Fatalf("%d rows, %v", len(p.rows), err)
		}
	}
}
