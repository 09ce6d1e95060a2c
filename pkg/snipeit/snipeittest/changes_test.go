package snipeittest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/usersync/usersync/pkg/model"
)

// webhookReceiver records the webhook messages a simulator sends.
type webhookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	status int // answered; 0 is 200
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	rcv := &webhookReceiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		rcv.bodies = append(rcv.bodies, body)
		status := rcv.status
		rcv.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

// texts are the "text" members of the messages received.
func (rcv *webhookReceiver) texts(t *testing.T) []string {
	t.Helper()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []string
	for _, b := range rcv.bodies {
		var m struct{ Text string }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("webhook body %s: %v", b, err)
		}
		out = append(out, m.Text)
	}
	return out
}

// rowsByKey is every user and asset a mirror would see, live or deleted,
// keyed "user 42" or "asset 912".
func rowsByKey(s *Server) map[string]any {
	m := map[string]any{}
	for _, list := range [][]model.User{s.Users(), s.DeletedUsers()} {
		for _, u := range list {
			m[fmt.Sprint("user ", u.ID)] = u
		}
	}
	for _, list := range [][]model.Asset{s.Assets(), s.DeletedAssets()} {
		for _, a := range list {
			m[fmt.Sprint("asset ", a.ID)] = a
		}
	}
	return m
}

func updatedAt(row any) *time.Time {
	switch r := row.(type) {
	case model.User:
		return r.UpdatedAt
	case model.Asset:
		return r.UpdatedAt
	}
	return nil
}

// diffRows lists the rows whose content differs between two snapshots
// (changed) and those whose updated_at differs (bumped).
func diffRows(before, after map[string]any) (changed, bumped []string) {
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	for k := range keys {
		b, a := before[k], after[k]
		if !gocmp.Equal(b, a) {
			changed = append(changed, k)
		}
		if a != nil && (b == nil || !gocmp.Equal(updatedAt(b), updatedAt(a))) {
			bumped = append(bumped, k)
		}
	}
	sort.Strings(changed)
	sort.Strings(bumped)
	return changed, bumped
}

// logLines writes log entries as "checkout asset 911 → user 118".
func logLines(entries []LogEntry) []string {
	var out []string
	for _, e := range entries {
		line := fmt.Sprintf("%s %s %d", e.Action, e.ItemType, e.ItemID)
		if e.TargetType != "" {
			line += fmt.Sprintf(" → %s %d", e.TargetType, e.TargetID)
		}
		out = append(out, line)
	}
	return out
}

// TestWhatAChangeTouches runs each UI action on every version and checks
// which rows' content changes, which rows' updated_at changes, what is
// logged and which webhook is sent, as Snipe-IT does on each version.
func TestWhatAChangeTouches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		act     func(*Server) error
		changed []string
		// changedOn overrides changed for some versions.
		changedOn map[Version][]string
		bumped    []string
		log       []string // entries written on every version
		userLog   []string // entries UserObserver writes, from 6.3 (7.0 here)
		webhook   string   // the message's text, from 6.1 (7.0 here)
	}{
		{name: "an asset checkout bumps the asset and changes the user's assets_count without a bump",
			act:     func(s *Server) error { return s.CheckoutAsset(911, 118) },
			changed: []string{"asset 911", "user 118"}, bumped: []string{"asset 911"},
			log: []string{"checkout asset 911 → user 118"}, webhook: ":arrow_up: :computer: Asset checked out"},
		{name: "an asset checkin bumps the asset, not the user it came from",
			act:     func(s *Server) error { return s.CheckinAsset(912) },
			changed: []string{"asset 912", "user 42"}, bumped: []string{"asset 912"},
			log: []string{"checkin from asset 912 → user 42"}, webhook: ":arrow_down: :computer: Asset checked in"},
		{name: "an audit bumps the asset",
			act:     func(s *Server) error { return s.AuditAsset(911) },
			changed: []string{"asset 911"}, bumped: []string{"asset 911"},
			log: []string{"audit asset 911"}, webhook: "Asset Audited"},
		{name: "a license seat checkout changes the user's licenses_count without a bump",
			act:     func(s *Server) error { return s.CheckoutLicenseSeat(1, 118) },
			changed: []string{"user 118"},
			log:     []string{"checkout license 1 → user 118"}, webhook: ":arrow_up: :floppy_disk: License Checked Out"},
		{name: "a license seat checkin changes the user's licenses_count without a bump",
			act:     func(s *Server) error { return s.CheckinLicenseSeat(1, 42) },
			changed: []string{"user 42"},
			log:     []string{"checkin from license 1 → user 42"}, webhook: ":arrow_down: :floppy_disk: License checked in"},
		{name: "an accessory checkout changes the user's accessories_count without a bump",
			act:     func(s *Server) error { return s.CheckoutAccessory(1, 118) },
			changed: []string{"user 118"},
			log:     []string{"checkout accessory 1 → user 118"}, webhook: ":arrow_up: :keyboard: Accessory Checked Out"},
		{name: "an accessory checkin changes the user's accessories_count without a bump",
			act: func(s *Server) error {
				return errors.Join(s.CheckoutAccessory(1, 118), s.CheckinAccessory(1, 118))
			},
			log:     []string{"checkout accessory 1 → user 118", "checkin from accessory 1 → user 118"},
			webhook: ":arrow_up: :keyboard: Accessory Checked Out|:arrow_down: :keyboard: Accessory checked in"},
		{name: "a consumable checkout changes the user's consumables_count without a bump",
			act:     func(s *Server) error { return s.CheckoutConsumable(1, 118) },
			changed: []string{"user 118"},
			log:     []string{"checkout consumable 1 → user 118"}, webhook: ":arrow_up: :paperclip: Consumable Checked Out"},
		{name: "renaming a department changes its users' rows without a bump",
			act:     func(s *Server) error { return s.RenameDepartment(3, "R&D (Renamed)") },
			changed: []string{"user 42"}},
		{name: "renaming a location changes users' and assets' rows without a bump",
			act:     func(s *Server) error { return s.RenameLocation(5, "HQ – Floor 3") },
			changed: []string{"asset 912", "user 42"}},
		{name: "renaming a company changes users' and assets' rows without a bump",
			act:     func(s *Server) error { return s.RenameCompany(1, "Fakeco Group") },
			changed: []string{"asset 912", "user 42"}},
		{name: "renaming a model changes its assets without a bump",
			act:     func(s *Server) error { return s.RenameModel(14, "Exampletop 14 Gen 2") },
			changed: []string{"asset 912"}},
		{name: "renaming a status label changes its assets without a bump",
			act:     func(s *Server) error { return s.RenameStatusLabel(2, "Ready") },
			changed: []string{"asset 1", "asset 2", "asset 911", "asset 912"}},
		{name: "renaming a manager changes the rows it manages without a bump",
			act:     func(s *Server) error { return s.UpdateUser(7, func(u *User) { u.LastName = "Renamed" }) },
			changed: []string{"user 42", "user 7"}, bumped: []string{"user 7"},
			// 5.0 names a manager by its username.
			changedOn: map[Version][]string{Version50: {"user 7"}},
			userLog:   []string{"update user 7 → user 7"}},
		{name: "renaming the assigned user bumps only the user",
			act: func(s *Server) error { return s.UpdateUser(42, func(u *User) { u.FirstName = "Zedd" }) },
			// The assets' assigned_to shows the new name (TestMutations)
			// with their old updated_at; a mirror keeps only the user's id.
			changed: []string{"user 42"}, bumped: []string{"user 42"},
			userLog: []string{"update user 42 → user 42"}},
		{name: "a new manager bumps the user, and changes the manager's count without a bump",
			act:     func(s *Server) error { return s.SetManager(118, 7) },
			changed: []string{"user 118", "user 7"}, bumped: []string{"user 118"},
			// 5.0 has no manages_users_count.
			changedOn: map[Version][]string{Version50: {"user 118"}},
			userLog:   []string{"update user 118 → user 118"}},
		{name: "new groups change the user without a bump",
			act:     func(s *Server) error { return s.SetGroups(42, []Ref{{5, "IT <Support>"}}) },
			changed: []string{"user 42"}},
		{name: "a login bumps the user and logs nothing",
			act:     func(s *Server) error { return s.Login(118) },
			changed: []string{"user 118"}, bumped: []string{"user 118"}},
		{name: "an edit of display_name bumps the user and logs nothing",
			act:     func(s *Server) error { return s.UpdateUser(118, func(u *User) { u.DisplayName = "Yara T." }) },
			changed: []string{"user 118"}, bumped: []string{"user 118"},
			// Before 8.x display_name is not sent: the row looks the same.
			changedOn: map[Version][]string{Version70: {"user 118"}, Version50: {"user 118"}}},
		{name: "an edit that changes nothing bumps nothing",
			act: func(s *Server) error { return s.UpdateUser(118, func(u *User) { u.FirstName = "Yara" }) }},
		{name: "a soft delete bumps the user",
			act:     func(s *Server) error { return s.DeleteUser(118) },
			changed: []string{"user 118"}, bumped: []string{"user 118"},
			userLog: []string{"delete user 118 → user 118"}},
		{name: "a restore bumps the user",
			act:     func(s *Server) error { return errors.Join(s.DeleteUser(118), s.RestoreUser(118)) },
			changed: []string{"user 118"}, bumped: []string{"user 118"},
			userLog: []string{"delete user 118 → user 118", "restore user 118 → user 118"}},
		{name: "a new user is logged from 6.3",
			act: func(s *Server) error {
				return s.AddUser(User{ID: 500, FirstName: "New", Username: "new"})
			},
			changed: []string{"user 500"}, bumped: []string{"user 500"},
			userLog: []string{"create user 500"}},
		{name: "an asset edit bumps and logs the asset, no webhook",
			act:     func(s *Server) error { return s.UpdateAsset(911, func(a *Asset) { a.Notes = "Dead pixel" }) },
			changed: []string{"asset 911"}, bumped: []string{"asset 911"},
			log: []string{"update asset 911"}},
		{name: "archiving is an asset edit",
			act:     func(s *Server) error { return s.ArchiveAsset(911) },
			changed: []string{"asset 911"}, bumped: []string{"asset 911"},
			log: []string{"update asset 911"}},
		{name: "deleting a checked-out asset stops counting it from 7.1.16",
			act:     func(s *Server) error { return s.DeleteAsset(912) },
			changed: []string{"asset 912", "user 42"}, bumped: []string{"asset 912"},
			// Before 7.1.16 assets_count counts the soft-deleted asset.
			changedOn: map[Version][]string{Version70: {"asset 912"}, Version50: {"asset 912"}},
			log:       []string{"delete asset 912"}},
		{name: "a request bumps the asset (requests_counter)",
			act:     func(s *Server) error { return s.RequestAsset(911, 118) },
			changed: []string{"asset 911"}, bumped: []string{"asset 911"},
			log: []string{"requested asset 911 → user 118"}, webhook: "Item Requested"},
		{name: "a cancelled request changes no row",
			act: func(s *Server) error { return s.CancelAssetRequest(911, 118) },
			log: []string{"request canceled asset 911 → user 118"}, webhook: "A user has canceled an item request on the website"},
	}
	for _, v := range versions {
		for _, tc := range tests {
			t.Run(string(v)+"/"+tc.name, func(t *testing.T) {
				clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
				rcv := newWebhookReceiver(t)
				cfg := Config{Data: smallExampleData(), Version: v, Now: clock.Now}
				if v.webhooks() {
					cfg.Webhook = WebhookSettings{Endpoint: rcv.URL}
				}
				s := mustNew(t, cfg)
				before, logBefore := rowsByKey(s), len(s.Log())
				clock.Advance(time.Second)
				must(t, tc.act(s))

				wantChanged := tc.changed
				if c, ok := tc.changedOn[v]; ok {
					wantChanged = c
				}
				changed, bumped := diffRows(before, rowsByKey(s))
				if diff := gocmp.Diff(wantChanged, changed, cmpEmptyStrings); diff != "" {
					t.Errorf("rows changed (-want +got):\n%s", diff)
				}
				if diff := gocmp.Diff(tc.bumped, bumped, cmpEmptyStrings); diff != "" {
					t.Errorf("rows whose updated_at changed (-want +got):\n%s", diff)
				}
				wantLog := tc.log
				if v.logsUsers() {
					wantLog = append(slices.Clone(tc.log), tc.userLog...)
				}
				if diff := gocmp.Diff(wantLog, logLines(s.Log()[logBefore:]), cmpEmptyStrings); diff != "" {
					t.Errorf("log entries (-want +got):\n%s", diff)
				}
				var wantHooks []string
				if tc.webhook != "" && v.webhooks() {
					wantHooks = splitBar(tc.webhook)
				}
				// Sent synchronously: no waiting.
				if diff := gocmp.Diff(wantHooks, rcv.texts(t), cmpEmptyStrings); diff != "" {
					t.Errorf("webhooks (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// cmpEmptyStrings makes nil and empty string slices equal.
var cmpEmptyStrings = gocmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

func splitBar(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '|' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
