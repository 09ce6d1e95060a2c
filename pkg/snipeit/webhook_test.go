package snipeit_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// TestParseWebhook reads the messages the simulator sends for each action
// that sends one.
func TestParseWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, b)
	}))
	defer rcv.Close()
	sim := snipeittest.Start(t, snipeittest.Config{Webhook: snipeittest.WebhookSettings{Endpoint: rcv.URL},
		AppURL: "https://snipe.example.test/it", Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 20, Assets: 30, Seed: 1})})
	var asset, requestable snipeittest.Asset
	for _, a := range sim.Assets() {
		if a.AssignedType == "" && a.StatusType == "deployable" {
			asset.ID = a.ID
		}
	}
	requestable.ID = asset.ID
	must(t, sim.UpdateAsset(requestable.ID, func(a *snipeittest.Asset) { a.Requestable = true }))
	user := sim.Users()[3].ID
	admin := snipeit.WebhookLink{Field: "By", WebhookRef: snipeit.WebhookRef{Type: "user", ID: 1, Name: "Admin Fakeuser"}}
	to := snipeit.WebhookRef{Type: "user", ID: user, Name: sim.Users()[3].FirstName + " " + sim.Users()[3].LastName}
	tests := []struct {
		act  func() error
		want snipeit.WebhookEvent
	}{
		{func() error { return sim.CheckoutAsset(asset.ID, user) },
			snipeit.WebhookEvent{Action: snipeit.WebhookCheckout, Item: snipeit.WebhookRef{Type: "asset", ID: asset.ID},
				Links: []snipeit.WebhookLink{{Field: "To", WebhookRef: to}, admin}}},
		{func() error { return sim.CheckinAsset(asset.ID) },
			snipeit.WebhookEvent{Action: snipeit.WebhookCheckin, Item: snipeit.WebhookRef{Type: "asset", ID: asset.ID},
				Links: []snipeit.WebhookLink{{Field: "Administrator", WebhookRef: admin.WebhookRef}}}},
		{func() error { return sim.AuditAsset(asset.ID) },
			snipeit.WebhookEvent{Action: snipeit.WebhookAudit, Item: snipeit.WebhookRef{Type: "asset", ID: asset.ID},
				Links: []snipeit.WebhookLink{admin}}},
		{func() error { return sim.CheckoutLicenseSeat(1, user) },
			snipeit.WebhookEvent{Action: snipeit.WebhookCheckout, Item: snipeit.WebhookRef{Type: "license", ID: 1},
				Links: []snipeit.WebhookLink{{Field: "To", WebhookRef: to}, admin}}},
		{func() error { return sim.CheckoutAccessory(1, user) },
			snipeit.WebhookEvent{Action: snipeit.WebhookCheckout, Item: snipeit.WebhookRef{Type: "accessory", ID: 1},
				Links: []snipeit.WebhookLink{{Field: "To", WebhookRef: to}, admin}}},
		{func() error { return sim.CheckoutConsumable(1, user) },
			snipeit.WebhookEvent{Action: snipeit.WebhookCheckout, Item: snipeit.WebhookRef{Type: "consumable", ID: 1},
				Links: []snipeit.WebhookLink{{Field: "To", WebhookRef: to}, admin}}},
		{func() error { return sim.RequestAsset(requestable.ID, user) },
			snipeit.WebhookEvent{Action: snipeit.WebhookRequest, Item: snipeit.WebhookRef{Type: "asset", ID: requestable.ID},
				Links: []snipeit.WebhookLink{{Field: "Requested By", WebhookRef: to}}}},
		{func() error { return sim.CancelAssetRequest(requestable.ID, user) },
			snipeit.WebhookEvent{Action: snipeit.WebhookRequestCanceled, Item: snipeit.WebhookRef{Type: "asset", ID: requestable.ID},
				Links: []snipeit.WebhookLink{{Field: "By", WebhookRef: to}}}},
	}
	for _, tc := range tests {
		mu.Lock()
		bodies = nil
		mu.Unlock()
		must(t, tc.act())
		mu.Lock()
		if len(bodies) != 1 {
			t.Fatalf("%s: %d messages", tc.want.Action, len(bodies))
		}
		body := bodies[0]
		mu.Unlock()
		got, err := snipeit.ParseWebhook(body)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		got.Text, got.Item.Name = "", ""
		if diff := cmp.Diff(tc.want, *got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", body, diff)
		}
	}
}

func TestParseWebhookRejectsWhatIsNotAMessage(t *testing.T) {
	for _, body := range []string{
		``, `[]`, `{"text":"hi"}`, `{"text":"x","attachments":[]}`,
		`{"text":"x","attachments":[{"title":"T","title_link":"https://h/hardware/abc"}]}`,
		`{"text":"x","attachments":[{"title":"T","title_link":"https://h/dashboard"}]}`,
		`{"text":"x","attachments":[{"title":"T","title_link":"javascript:alert(1)/hardware/1"}]}`,
		`{"text":"x","attachments":[{"title":"T","title_link":"https://h/hardware/-3"}]}`,
		`{"text":"x","text":"y","attachments":[{"title_link":"https://h/hardware/3"}]}`,
	} {
		if _, err := snipeit.ParseWebhook([]byte(body)); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%q: err %v, want ErrInvalid", body, err)
		}
	}
}

// FuzzParseWebhook: any body is either a message naming a record or
// ErrInvalid, never a panic.
func FuzzParseWebhook(f *testing.F) {
	for _, seed := range []string{
		`{"text":":arrow_up: :computer: Asset checked out","attachments":[{"fields":[{"title":"To","value":"<https:\/\/snipeit.example.test\/users\/118|Yara >","short":true},{"title":"By","value":"<https:\/\/snipeit.example.test\/users\/1|Admin Fakeuser>","short":true}],"title":"Sampleview 27 (Fake) (MON-000911)","title_link":"https:\/\/snipeit.example.test\/hardware\/911"}],"channel":"#it","username":"Snipe-Bot"}`,
		`{"text":"Item Requested","attachments":[{"fields":[{"title":"QTY","value":1,"short":true},{"title":"Requested By","value":"<https:\/\/h\/users\/5|A B>","short":true}],"title":"X","title_link":"https:\/\/h\/hardware\/9"}]}`,
		`{"text":"Asset Audited","attachments":[{"color":"good","fields":[],"title":"X","title_link":"http://h/sub/licenses/2"}]}`,
		`{"text":"x","attachments":[{"title_link":"https://h/hardware/abc"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := snipeit.ParseWebhook(body)
		if err != nil {
			if !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if e.Item.ID <= 0 || e.Item.Type == "" {
			t.Fatalf("accepted a message about no record: %+v", e.Item)
		}
		for _, l := range e.Links {
			if l.ID <= 0 || l.Type == "" {
				t.Fatalf("a link to no record: %+v", l)
			}
		}
	})
}
