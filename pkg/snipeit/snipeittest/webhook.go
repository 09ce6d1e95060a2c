package snipeittest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// WebhookSettings is Admin > Integrations with the "general" webhook
// selected (Snipe-IT 6.1.0 and later): a Slack-format JSON message is
// POSTed to Endpoint on checkouts and checkins of assets, accessories and
// license seats, consumable checkouts, audits, asset requests and their
// cancellations. Nothing is sent when a user or an asset is created,
// updated or deleted. There is no secret and no signature; a message is
// sent synchronously within the change that causes it, and a failure is
// only logged, never retried.
type WebhookSettings struct {
	// Endpoint is webhook_endpoint; "" sends nothing.
	Endpoint string
	// Channel is webhook_channel, sent as "channel" when set.
	Channel string
	// BotName is webhook_botname, sent as "username"; "" is "Snipe-Bot".
	BotName string
}

// webhook sends the messages of one server.
type webhook struct {
	mu       sync.Mutex
	settings WebhookSettings
	client   *http.Client
	timeout  time.Duration

	sent, failed int
}

// SetWebhook changes the webhook settings, as an admin saving Admin >
// Integrations does. Versions before 6.1 (5.0) have no general webhook.
func (s *Server) SetWebhook(w WebhookSettings) error {
	if w.Endpoint != "" && !s.cfg.Version.webhooks() {
		return fmt.Errorf("snipe-it %s has no general webhook (6.1.0 added it; before, only https://hooks.slack.com/ endpoints)", s.cfg.Version)
	}
	s.webhook.mu.Lock()
	defer s.webhook.mu.Unlock()
	s.webhook.settings = w
	return nil
}

// slackMessage is Laravel's SlackMessage with one attachment, as Snipe-IT's
// notifications build it.
type slackMessage struct {
	text string
	// color is the attachment's color: "good" for a success() message
	// (audits), "" for none.
	color     string
	title     string // the item's name
	titleLink string // the item's page
	fields    []slackField
	note      string // the attachment's text
}

type slackField struct{ title, value string }

// payload is the JSON SlackWebhookChannel posts: text and attachments,
// then the optional members that are set. json_encode escapes "/" and
// non-ASCII, as Guzzle's json option does.
func (m *slackMessage) payload(w WebhookSettings) []byte {
	j := jsonWriter{}
	j.beginObject("")
	j.plain("text", m.text)
	j.beginArray("attachments")
	j.beginObject("")
	if m.color != "" {
		j.plain("color", m.color)
	}
	j.beginArray("fields")
	for _, f := range m.fields {
		j.beginObject("")
		j.plain("title", f.title)
		j.plain("value", f.value)
		j.boolean("short", true)
		j.endObject()
	}
	j.endArray()
	if m.note != "" {
		j.plain("text", m.note)
	}
	j.plain("title", m.title)
	j.plain("title_link", m.titleLink)
	j.endObject()
	j.endArray()
	if w.Channel != "" {
		j.plain("channel", w.Channel)
	}
	bot := w.BotName
	if bot == "" {
		bot = "Snipe-Bot"
	}
	j.plain("username", bot)
	j.endObject()
	return j.b
}

// send posts m to the endpoint, if one is set, and waits for the answer.
// A failure is logged and dropped.
func (s *Server) send(m *slackMessage) {
	h := &s.webhook
	h.mu.Lock()
	settings := h.settings
	h.mu.Unlock()
	if settings.Endpoint == "" || m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, settings.Endpoint, bytes.NewReader(m.payload(settings)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "GuzzleHttp/7")
		resp, err := h.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}()
	h.mu.Lock()
	if err != nil {
		h.failed++
	} else {
		h.sent++
	}
	h.mu.Unlock()
	if err != nil {
		s.log.Error("webhook failed; not retried", "text", m.text, "err", err)
	}
}

// Webhooks reports how many webhook messages were delivered and how many
// failed.
func (s *Server) Webhooks() (sent, failed int) {
	s.webhook.mu.Lock()
	defer s.webhook.mu.Unlock()
	return s.webhook.sent, s.webhook.failed
}

// The messages of the notifications Snipe-IT sends as webhooks. Links are
// Slack's <url|name>; names are not escaped; the item's title drops HTML
// escapes (htmlspecialchars_decode of an unescaped name is the name).

func (s *Server) viewURL(kind string, id int64) string {
	return s.cfg.AppURL + "/" + kind + "/" + strconv.FormatInt(id, 10)
}

// userLink is <url|full name> of a user (UserPresenter::fullName, which
// keeps the space before an empty last name).
func (s *Server) userLink(u *User) string {
	if u == nil {
		return ""
	}
	return "<" + s.viewURL("users", u.ID) + "|" + u.FirstName + " " + u.LastName + ">"
}

func (s *Server) checkoutAssetMessage(a *Asset, to, by *User) *slackMessage {
	m := &slackMessage{text: ":arrow_up: :computer: Asset checked out", title: assetDisplayName(a),
		titleLink: s.viewURL("hardware", a.ID),
		fields:    []slackField{{"To", s.userLink(to)}, {"By", s.userLink(by)}}}
	if !a.ExpectedCheckin.IsZero() {
		m.fields = append(m.fields, slackField{"Expected Checkin", a.ExpectedCheckin.Format(time.DateOnly)})
	}
	return m
}

func (s *Server) checkinAssetMessage(a *Asset, by *User) *slackMessage {
	status, location := "", ""
	if a.Status != nil {
		status = a.Status.Name
	}
	if a.Location != nil {
		location = a.Location.Name
	}
	return &slackMessage{text: ":arrow_down: :computer: Asset checked in", title: assetDisplayName(a),
		titleLink: s.viewURL("hardware", a.ID),
		fields:    []slackField{{"Administrator", s.userLink(by)}, {"Status", status}, {"Location", location}}}
}

func (s *Server) auditMessage(a *Asset, by *User) *slackMessage {
	return &slackMessage{text: "Asset Audited", color: "good", title: assetDisplayName(a),
		titleLink: s.viewURL("hardware", a.ID), fields: []slackField{{"By", s.userLink(by)}}}
}

func (s *Server) requestMessage(a *Asset, by *User) *slackMessage {
	return &slackMessage{text: "Item Requested", title: assetDisplayName(a), titleLink: s.viewURL("hardware", a.ID),
		fields: []slackField{{"QTY", "1"}, {"Requested By", s.userLink(by)}}}
}

func (s *Server) cancelRequestMessage(a *Asset, by *User) *slackMessage {
	m := &slackMessage{text: "A user has canceled an item request on the website", title: assetDisplayName(a),
		titleLink: s.viewURL("hardware", a.ID), fields: []slackField{{"By", s.userLink(by)}}}
	if !a.ExpectedCheckin.IsZero() {
		m.fields = append(m.fields, slackField{"Expected Checkin", a.ExpectedCheckin.Format(time.DateOnly)})
	}
	return m
}

// itemMessage is the checkout or checkin message of a license seat, an
// accessory or a consumable: To and By.
func (s *Server) itemMessage(text, kind string, id int64, name string, to, by *User) *slackMessage {
	return &slackMessage{text: text, title: name, titleLink: s.viewURL(kind, id),
		fields: []slackField{{"To", s.userLink(to)}, {"By", s.userLink(by)}}}
}
