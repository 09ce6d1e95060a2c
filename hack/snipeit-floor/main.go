// Command snipeit-floor is the benchmark floor for a sync: it fetches and
// decodes every user and asset page and throws the rows away. `make bench`
// reports usersync's CPU and wall time as multiples of it. Two decoders:
//
//   - -decode plain (the default): a plain client, net/http and the
//     standard library's encoding/json into structs that declare the
//     fields usersync mirrors, with the types Snipe-IT documents; the same
//     pages (sort=id, page size 500, 4 in flight, archived assets in a
//     second listing). No HTML unescaping, date parsing or leniency: the
//     least a Go client must do to read the same fields.
//   - -decode client: pkg/snipeit's client (usersync's own paging,
//     decoding and conversion), so usersync's time over it is what the
//     store adds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "snipeit-floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	scope := flag.String("scope", "all", "users, assets or all")
	decode := flag.String("decode", "plain", "plain (encoding/json into the mirrored fields) or client (pkg/snipeit)")
	pageSize := flag.Int("page-size", 500, "rows per page")
	parallelism := flag.Int("parallelism", 4, "pages in flight")
	rate := flag.Float64("rate-limit", 0, "requests per minute (client only); 0: none")
	flag.Parse()
	scopes, err := model.ParseScope(*scope)
	if err != nil {
		return err
	}
	baseURL, token := strings.TrimRight(os.Getenv("SNIPEIT_URL"), "/"), os.Getenv("SNIPEIT_TOKEN")
	start := time.Now()
	var users, assets int
	switch *decode {
	case "plain":
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = *parallelism + 2 // as pkg/snipeit does: no reconnects
		p := &plain{base: baseURL + "/api/v1", token: token, pageSize: *pageSize, parallelism: *parallelism, http: &http.Client{Transport: t}}
		users, assets, err = p.run(ctx, scopes)
	case "client":
		users, assets, err = viaClient(ctx, scopes, baseURL, token, *pageSize, *parallelism, *rate)
	default:
		err = fmt.Errorf("-decode %q: want plain or client", *decode)
	}
	if err != nil {
		return err
	}
	fmt.Printf("users=%d assets=%d elapsed=%s\n", users, assets, time.Since(start))
	return nil
}

func viaClient(ctx context.Context, scopes []model.Scope, baseURL, token string, pageSize, parallelism int, rate float64) (users, assets int, err error) {
	if rate == 0 {
		rate = -1
	}
	c, err := snipeit.New(snipeit.Config{BaseURL: baseURL, Token: token, PageSize: pageSize, Parallelism: parallelism, RatePerMinute: rate})
	if err != nil {
		return 0, 0, err
	}
	for _, s := range scopes {
		switch s {
		case model.ScopeUsers:
			for _, err := range c.Users(ctx) {
				if err != nil {
					return 0, 0, err
				}
				users++
			}
		case model.ScopeAssets:
			for _, err := range c.Assets(ctx) {
				if err != nil {
					return 0, 0, err
				}
				assets++
			}
		}
	}
	return users, assets, nil
}

// The fields usersync mirrors, as Snipe-IT documents their types.
type (
	plainRef struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	plainDate struct {
		Datetime string `json:"datetime"`
		Date     string `json:"date"`
	}
	plainActions struct {
		Restore bool `json:"restore"`
	}
	plainUser struct {
		ID                    int64         `json:"id"`
		Name                  string        `json:"name"`
		FirstName             string        `json:"first_name"`
		LastName              string        `json:"last_name"`
		DisplayName           string        `json:"display_name"`
		Username              *string       `json:"username"`
		Remote                bool          `json:"remote"`
		Locale                string        `json:"locale"`
		EmployeeNum           string        `json:"employee_num"`
		Manager               *plainRef     `json:"manager"`
		JobTitle              string        `json:"jobtitle"`
		VIP                   bool          `json:"vip"`
		Phone                 string        `json:"phone"`
		Mobile                string        `json:"mobile"`
		Website               string        `json:"website"`
		Address               string        `json:"address"`
		City                  string        `json:"city"`
		State                 string        `json:"state"`
		Country               string        `json:"country"`
		Zip                   string        `json:"zip"`
		Email                 string        `json:"email"`
		Department            *plainRef     `json:"department"`
		Location              *plainRef     `json:"location"`
		Notes                 string        `json:"notes"`
		Role                  string        `json:"role"`
		Activated             bool          `json:"activated"`
		AutoassignLicenses    bool          `json:"autoassign_licenses"`
		LDAPImport            bool          `json:"ldap_import"`
		TwoFactorEnrolled     bool          `json:"two_factor_enrolled"`
		TwoFactorOptin        bool          `json:"two_factor_optin"`
		AssetsCount           int32         `json:"assets_count"`
		LicensesCount         int32         `json:"licenses_count"`
		AccessoriesCount      int32         `json:"accessories_count"`
		ConsumablesCount      int32         `json:"consumables_count"`
		ManagesUsersCount     int32         `json:"manages_users_count"`
		ManagesLocationsCount int32         `json:"manages_locations_count"`
		Company               *plainRef     `json:"company"`
		Companies             []plainRef    `json:"companies"`
		CreatedAt             *plainDate    `json:"created_at"`
		UpdatedAt             *plainDate    `json:"updated_at"`
		StartDate             *plainDate    `json:"start_date"`
		EndDate               *plainDate    `json:"end_date"`
		LastLogin             *plainDate    `json:"last_login"`
		DeletedAt             *plainDate    `json:"deleted_at"`
		AvailableActions      *plainActions `json:"available_actions"`
		Groups                *struct {
			Rows []plainRef `json:"rows"`
		} `json:"groups"`
	}
	plainStatus struct {
		ID         int64  `json:"id"`
		Name       string `json:"name"`
		StatusType string `json:"status_type"`
		StatusMeta string `json:"status_meta"`
	}
	plainAssignee struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	}
	plainCustomField struct {
		Field string          `json:"field"`
		Value json.RawMessage `json:"value"`
	}
	plainAsset struct {
		ID              int64          `json:"id"`
		Name            string         `json:"name"`
		AssetTag        string         `json:"asset_tag"`
		Serial          string         `json:"serial"`
		Model           *plainRef      `json:"model"`
		Byod            bool           `json:"byod"`
		Requestable     bool           `json:"requestable"`
		ModelNumber     string         `json:"model_number"`
		EOLDate         *plainDate     `json:"asset_eol_date"`
		StatusLabel     *plainStatus   `json:"status_label"`
		Category        *plainRef      `json:"category"`
		Manufacturer    *plainRef      `json:"manufacturer"`
		Supplier        *plainRef      `json:"supplier"`
		Notes           string         `json:"notes"`
		OrderNumber     string         `json:"order_number"`
		Company         *plainRef      `json:"company"`
		Location        *plainRef      `json:"location"`
		RTDLocation     *plainRef      `json:"rtd_location"`
		AssignedTo      *plainAssignee `json:"assigned_to"`
		WarrantyMonths  string         `json:"warranty_months"`
		WarrantyExpires *plainDate     `json:"warranty_expires"`
		CreatedAt       *plainDate     `json:"created_at"`
		UpdatedAt       *plainDate     `json:"updated_at"`
		LastAuditDate   *plainDate     `json:"last_audit_date"`
		NextAuditDate   *plainDate     `json:"next_audit_date"`
		DeletedAt       *plainDate     `json:"deleted_at"`
		PurchaseDate    *plainDate     `json:"purchase_date"`
		LastCheckout    *plainDate     `json:"last_checkout"`
		LastCheckin     *plainDate     `json:"last_checkin"`
		ExpectedCheckin *plainDate     `json:"expected_checkin"`
		PurchaseCost    string         `json:"purchase_cost"`
		// An object keyed by display name, or [] when empty (Snipe-IT 5).
		CustomFields     json.RawMessage `json:"custom_fields"`
		AvailableActions *plainActions   `json:"available_actions"`
	}
)

// plain pages a listing with net/http and encoding/json.
type plain struct {
	base, token           string
	pageSize, parallelism int
	http                  *http.Client
}

func (p *plain) run(ctx context.Context, scopes []model.Scope) (users, assets int, err error) {
	for _, s := range scopes {
		switch s {
		case model.ScopeUsers:
			n, err := listAll(ctx, p, "/users", nil, func(b []byte) (int, error) { return decodeRows[plainUser](b, nil) })
			if err != nil {
				return 0, 0, err
			}
			users += n
		case model.ScopeAssets:
			for _, filter := range []url.Values{nil, {"status": {"Archived"}}} {
				n, err := listAll(ctx, p, "/hardware", filter, func(b []byte) (int, error) {
					return decodeRows(b, func(a *plainAsset) error {
						if len(a.CustomFields) > 0 && a.CustomFields[0] == '{' {
							var m map[string]plainCustomField
							return json.Unmarshal(a.CustomFields, &m)
						}
						return nil
					})
				})
				if err != nil {
					return 0, 0, err
				}
				assets += n
			}
		}
	}
	return users, assets, nil
}

// decodeRows decodes a list page and returns how many rows it held.
func decodeRows[R any](body []byte, each func(*R) error) (int, error) {
	var page struct {
		Total *int64 `json:"total"`
		Rows  []R    `json:"rows"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return 0, err
	}
	if page.Total == nil {
		return 0, errors.New("page without total")
	}
	for i := range page.Rows {
		if each != nil {
			if err := each(&page.Rows[i]); err != nil {
				return 0, err
			}
		}
	}
	return len(page.Rows), nil
}

// listAll fetches the first page for the total, then the rest with
// parallelism pages in flight.
func listAll(ctx context.Context, p *plain, path string, filter url.Values, decode func([]byte) (int, error)) (int, error) {
	total, err := p.total(ctx, path, filter)
	if err != nil {
		return 0, err
	}
	offsets := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		rows     int
		firstErr error
	)
	for range p.parallelism {
		wg.Go(func() {
			for off := range offsets {
				body, err := p.get(ctx, path, filter, off)
				var n int
				if err == nil {
					n, err = decode(body)
				}
				mu.Lock()
				rows += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for off := 0; off < total; off += p.pageSize {
		offsets <- off
	}
	close(offsets)
	wg.Wait()
	return rows, firstErr
}

func (p *plain) total(ctx context.Context, path string, filter url.Values) (int, error) {
	q := url.Values{"limit": {"1"}}
	for k, v := range filter {
		q[k] = v
	}
	body, err := p.request(ctx, path, q)
	if err != nil {
		return 0, err
	}
	var env struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return 0, err
	}
	return env.Total, nil
}

func (p *plain) get(ctx context.Context, path string, filter url.Values, offset int) ([]byte, error) {
	q := url.Values{"sort": {"id"}, "order": {"asc"}, "limit": {strconv.Itoa(p.pageSize)}, "offset": {strconv.Itoa(offset)}}
	for k, v := range filter {
		q[k] = v
	}
	return p.request(ctx, path, q)
}

func (p *plain) request(ctx context.Context, path string, q url.Values) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "usersync-floor")
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return body, nil
}
