package snipeittest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

func TestWebhookPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings WebhookSettings
		act      func(*Server) error
		want     string
	}{
		{"a checkout names the item, its page, and To and By as Slack links, with the channel and bot name",
			WebhookSettings{Channel: "#it-assets", BotName: "Asset Bot"},
			func(s *Server) error { return s.CheckoutAsset(911, 118) },
			`{"text":":arrow_up: :computer: Asset checked out","attachments":[{"fields":[` +
				`{"title":"To","value":"<https:\/\/snipeit.example.test\/users\/118|Yara >","short":true},` +
				`{"title":"By","value":"<https:\/\/snipeit.example.test\/users\/1|Admin Fakeuser>","short":true}],` +
				`"title":"Sampleview 27 (Fake) (MON-000911)","title_link":"https:\/\/snipeit.example.test\/hardware\/911"}],` +
				`"channel":"#it-assets","username":"Asset Bot"}`},
		{"a checkin names the asset but not whom it came from; no channel, the default bot name",
			WebhookSettings{},
			func(s *Server) error { return s.CheckinAsset(912) },
			`{"text":":arrow_down: :computer: Asset checked in","attachments":[{"fields":[` +
				`{"title":"Administrator","value":"<https:\/\/snipeit.example.test\/users\/1|Admin Fakeuser>","short":true},` +
				`{"title":"Status","value":"Ready to Deploy","short":true},` +
				`{"title":"Location","value":"Fake IT Store Room","short":true}],` +
				`"title":"FAKE-LT-0912 (LT-000912)","title_link":"https:\/\/snipeit.example.test\/hardware\/912"}],` +
				`"username":"Snipe-Bot"}`},
		{"an audit is a success message",
			WebhookSettings{},
			func(s *Server) error { return s.AuditAsset(911) },
			`{"text":"Asset Audited","attachments":[{"color":"good","fields":[` +
				`{"title":"By","value":"<https:\/\/snipeit.example.test\/users\/1|Admin Fakeuser>","short":true}],` +
				`"title":"Sampleview 27 (Fake) (MON-000911)","title_link":"https:\/\/snipeit.example.test\/hardware\/911"}],` +
				`"username":"Snipe-Bot"}`},
		{"a license seat links the license, non-ASCII escaped as json_encode does",
			WebhookSettings{},
			func(s *Server) error {
				// The edit sends nothing; the checkout does.
				return errors.Join(s.UpdateUser(118, func(u *User) { u.FirstName = "Zoë" }), s.CheckoutLicenseSeat(1, 118))
			},
			`{"text":":arrow_up: :floppy_disk: License Checked Out","attachments":[{"fields":[` +
				`{"title":"To","value":"<https:\/\/snipeit.example.test\/users\/118|Zo\u00eb >","short":true},` +
				`{"title":"By","value":"<https:\/\/snipeit.example.test\/users\/1|Admin Fakeuser>","short":true}],` +
				`"title":"Fake Office Suite","title_link":"https:\/\/snipeit.example.test\/licenses\/1"}],` +
				`"username":"Snipe-Bot"}`},
		{"an accessory checkout on 8.x titles the quantity",
			WebhookSettings{},
			func(s *Server) error { return s.CheckoutAccessory(1, 42) },
			`{"text":":arrow_up: :keyboard: Accessory Checked Out","attachments":[{"fields":[` +
				`{"title":"To","value":"<https:\/\/snipeit.example.test\/users\/42|Zed O'Fakename>","short":true},` +
				`{"title":"By","value":"<https:\/\/snipeit.example.test\/users\/1|Admin Fakeuser>","short":true}],` +
				`"title":"1 x Fake Dock","title_link":"https:\/\/snipeit.example.test\/accessories\/1"}],` +
				`"username":"Snipe-Bot"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newWebhookReceiver(t)
			tc.settings.Endpoint = rcv.URL
			s := mustNew(t, Config{Data: smallExampleData(), Webhook: tc.settings})
			must(t, tc.act(s))
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			var got string
			if len(rcv.bodies) > 0 {
				got = string(rcv.bodies[0])
			}
			if len(rcv.bodies) > 1 {
				t.Errorf("%d messages", len(rcv.bodies))
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	t.Run("a failure is logged and not retried; the change stands", func(t *testing.T) {
		rcv := newWebhookReceiver(t)
		rcv.status = http.StatusInternalServerError
		s := mustNew(t, Config{Data: smallExampleData(), Webhook: WebhookSettings{Endpoint: rcv.URL}})
		must(t, s.CheckoutAsset(911, 118))
		if n := len(rcv.texts(t)); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
		if sent, failed := s.Webhooks(); sent != 0 || failed != 1 {
			t.Errorf("sent %d, failed %d", sent, failed)
		}
		if a := findAsset(s.Assets(), 911); a.AssignedUserID == nil || *a.AssignedUserID != 118 {
			t.Errorf("the checkout did not stand: %+v", a.AssignedUserID)
		}
	})
	t.Run("an unreachable endpoint does not fail the change", func(t *testing.T) {
		rcv := newWebhookReceiver(t)
		rcv.Close()
		s := mustNew(t, Config{Data: smallExampleData(), Webhook: WebhookSettings{Endpoint: rcv.URL}, WebhookTimeout: time.Second})
		must(t, s.CheckoutAsset(911, 118))
		if _, failed := s.Webhooks(); failed != 1 {
			t.Errorf("failed %d, want 1", failed)
		}
	})
	t.Run("the change waits for the receiver", func(t *testing.T) {
		release := make(chan struct{})
		got := make(chan string, 1)
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got <- r.Header.Get("Content-Type")
			<-release
		}))
		t.Cleanup(rcv.Close)
		s := mustNew(t, Config{Data: smallExampleData(), Webhook: WebhookSettings{Endpoint: rcv.URL}})
		done := make(chan error, 1)
		go func() { done <- s.CheckoutAsset(911, 118) }()
		if ct := <-got; ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		select {
		case err := <-done:
			t.Fatalf("the checkout returned before the receiver answered: %v", err)
		default:
		}
		close(release)
		must(t, <-done)
	})
	t.Run("5.0 has no general webhook", func(t *testing.T) {
		if _, err := New(Config{Version: Version50, Webhook: WebhookSettings{Endpoint: "http://127.0.0.1:1/"}}); err == nil {
			t.Error("New accepted a webhook on 5.0")
		}
		s := mustNew(t, Config{Version: Version50})
		if err := s.SetWebhook(WebhookSettings{Endpoint: "http://127.0.0.1:1/"}); err == nil {
			t.Error("SetWebhook accepted a webhook on 5.0")
		}
	})
	t.Run("SetWebhook turns webhooks on and off", func(t *testing.T) {
		rcv := newWebhookReceiver(t)
		s := mustNew(t, Config{Data: smallExampleData()})
		must(t, s.CheckoutAsset(911, 118))
		must(t, s.SetWebhook(WebhookSettings{Endpoint: rcv.URL}))
		must(t, s.CheckinAsset(911))
		must(t, s.SetWebhook(WebhookSettings{}))
		must(t, s.AuditAsset(911))
		if diff := gocmp.Diff([]string{":arrow_down: :computer: Asset checked in"}, rcv.texts(t)); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
	})
}

func TestWriteAPI(t *testing.T) {
	t.Parallel()
	rcv := newWebhookReceiver(t)
	s := Start(t, Config{Data: smallExampleData(), Webhook: WebhookSettings{Endpoint: rcv.URL}, RestrictedToken: "restricted"})
	post := func(path, contentType, body string, headers ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s.Token())
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", contentType)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, path, contentType, body string
		headers                       []string
		status                        int
		want                          string
	}{
		{"a form checkout to a user succeeds", "/api/v1/hardware/911/checkout", form,
			url.Values{"checkout_to_type": {"user"}, "assigned_user": {"118"}}.Encode(), nil,
			200, `{"status":"success","messages":"Asset checked out successfully.","payload":{"asset":"MON-000911"}}`},
		{"checking it out again is an error in a 200", "/api/v1/hardware/911/checkout", "application/json",
			`{"checkout_to_type":"user","assigned_user":42}`, nil,
			200, `{"status":"error","messages":"That asset is not available for checkout!","payload":{"asset":"MON-000911"}}`},
		{"a JSON checkin succeeds", "/api/v1/hardware/911/checkin", "application/json", `{}`, nil,
			200, `{"status":"success","messages":"Asset checked in successfully.","payload":{"asset":"MON-000911"}}`},
		{"checking it in again is an error in a 200", "/api/v1/hardware/911/checkin", form, "", nil,
			200, `{"status":"error","messages":"That asset is already checked in.","payload":{"asset":"MON-000911"}}`},
		{"an unknown asset is not found in a 200", "/api/v1/hardware/999999/checkout", form, "assigned_user=1", nil,
			200, `{"status":"error","messages":"Asset not found","payload":null}`},
		{"malformed JSON is 422", "/api/v1/hardware/911/checkout", "application/json", `{`, nil,
			422, `{"status":"error","messages":"Invalid JSON","payload":null}`},
		{"a token without permission gets 403", "/api/v1/hardware/911/checkout", form, "assigned_user=1",
			[]string{"Authorization", "Bearer restricted"}, 403, `{"message":"This action is unauthorized."}`},
	}
	for _, tc := range tests {
		status, body := post(tc.path, tc.contentType, tc.body, tc.headers...)
		if status != tc.status || body != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.want)
		}
	}
	want := []string{":arrow_up: :computer: Asset checked out", ":arrow_down: :computer: Asset checked in"}
	if diff := gocmp.Diff(want, rcv.texts(t)); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	if w := serve(t, s, "/api/v1/hardware/911/checkout"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET of a write route: %d, want 405", w.Code)
	}
}
