package snipeittest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// A client pages users; the simulator fails the first request with a 503,
// and Users says what the client should end up with.
func Example() {
	sim, err := snipeittest.New(snipeittest.Config{
		Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 30, Assets: 10, Seed: 1}),
	})
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim) // in a test: sim := snipeittest.Start(t, cfg)
	defer srv.Close()
	sim.Inject(snipeittest.Fault{Path: "/api/v1/users", Kind: snipeittest.FaultStatus, Status: 503})

	get := func() (int, int) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/users?sort=id&order=asc&limit=500", nil)
		req.Header.Set("Authorization", "Bearer "+sim.Token())
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var page struct{ Rows []json.RawMessage }
		_ = json.NewDecoder(resp.Body).Decode(&page)
		return resp.StatusCode, len(page.Rows)
	}
	fmt.Println(get())
	fmt.Println(get())
	fmt.Println(len(sim.Users()), "live users expected;", sim.Stats().Responses["/api/v1/users"][503], "request failed")
	// Output:
	// 503 0
	// 200 29
	// 29 live users expected; 1 request failed
}
