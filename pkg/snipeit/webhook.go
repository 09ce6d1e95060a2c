package snipeit

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/usersync/usersync/pkg/model"
)

// WebhookEvent is what a message of Snipe-IT's general webhook (Admin >
// Integrations, Snipe-IT 6.1 and later) says happened. The message is
// Slack-format JSON: a localized text, and one attachment whose title links
// to the record's page and whose fields are "<url|name>" links (To, By,
// Administrator, Requested By…). Ids appear only inside those URLs. It
// carries no secret or signature, so a receiver must not trust it further
// than "something may have changed about this record".
type WebhookEvent struct {
	// Action is WebhookCheckout, WebhookCheckin, WebhookAudit,
	// WebhookRequest or WebhookRequestCanceled; "" when the text is none
	// Snipe-IT sends (requests are recognised in English only).
	Action string
	// Item is the record the message is about.
	Item WebhookRef
	// Links are the records the fields link to, in field order.
	Links []WebhookLink
	// Text is the message's text, e.g. ":arrow_up: :computer: Asset
	// checked out".
	Text string
}

// WebhookRef is a record a webhook message links to.
type WebhookRef struct {
	// Type is "asset", "user", "license", "accessory", "consumable",
	// "component" or "location"; "" when the link is to another page.
	Type string
	ID   int64
	Name string
}

// WebhookLink is a field of a webhook message that links to a record.
type WebhookLink struct {
	Field string // the field's title: "To", "By", "Administrator", "Requested By"…
	WebhookRef
}

// The actions a webhook message reports.
const (
	WebhookCheckout        = "checkout"
	WebhookCheckin         = "checkin"
	WebhookAudit           = "audit"
	WebhookRequest         = "request"
	WebhookRequestCanceled = "request canceled"
)

// Linked returns the record the field with title links to, if any: "To"
// is whom an item was checked out to.
func (e *WebhookEvent) Linked(field string) (WebhookRef, bool) {
	for _, l := range e.Links {
		if l.Field == field {
			return l.WebhookRef, true
		}
	}
	return WebhookRef{}, false
}

// slackPayload is the part of a Slack-format message Snipe-IT fills.
type slackPayload struct {
	Text        string `json:"text"`
	Attachments []struct {
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Fields    []struct {
			Title string         `json:"title"`
			Value jsontext.Value `json:"value"`
		} `json:"fields"`
	} `json:"attachments"`
}

// ParseWebhook reads a message of Snipe-IT's general webhook. A body that
// is not such a message (not a JSON object, no attachment, a title that
// links to no record) is model.ErrInvalid.
func ParseWebhook(body []byte) (*WebhookEvent, error) {
	var p slackPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: not a Snipe-IT webhook message: %w", model.ErrInvalid, err)
	}
	if len(p.Attachments) == 0 {
		return nil, fmt.Errorf("%w: the webhook message has no attachment", model.ErrInvalid)
	}
	a := p.Attachments[0]
	item, ok := recordOf(a.TitleLink)
	if !ok {
		return nil, fmt.Errorf("%w: the webhook message's title does not link to a record (%q)", model.ErrInvalid, snippet([]byte(a.TitleLink)))
	}
	item.Name = a.Title
	e := &WebhookEvent{Action: webhookAction(p.Text), Item: item, Text: p.Text}
	for _, f := range a.Fields {
		var value string
		if json.Unmarshal(f.Value, &value) != nil {
			continue // a number (QTY) or another value, not a link
		}
		if ref, ok := slackLink(value); ok {
			e.Links = append(e.Links, WebhookLink{Field: f.Title, WebhookRef: ref})
		}
	}
	return e, nil
}

// webhookAction recognises a message's text. Checkouts and checkins start
// with an arrow emoji in every language; audits are "<Class> Audited",
// untranslated; requests and cancellations are translated.
func webhookAction(text string) string {
	switch {
	case strings.HasPrefix(text, ":arrow_up:"):
		return WebhookCheckout
	case strings.HasPrefix(text, ":arrow_down:"):
		return WebhookCheckin
	case strings.HasSuffix(text, " Audited"):
		return WebhookAudit
	case text == "Item Requested":
		return WebhookRequest
	case text == "A user has canceled an item request on the website":
		return WebhookRequestCanceled
	}
	return ""
}

// slackLink reads a Slack link "<url|name>" to a record's page.
func slackLink(s string) (WebhookRef, bool) {
	inner, ok := strings.CutPrefix(s, "<")
	if !ok {
		return WebhookRef{}, false
	}
	inner, ok = strings.CutSuffix(inner, ">")
	if !ok {
		return WebhookRef{}, false
	}
	link, name, _ := strings.Cut(inner, "|")
	ref, ok := recordOf(link)
	ref.Name = name
	return ref, ok
}

// recordPages maps the path segment of a record's page to its type.
var recordPages = map[string]string{
	"hardware": "asset", "users": "user", "licenses": "license", "accessories": "accessory",
	"consumables": "consumable", "components": "component", "locations": "location",
}

// recordOf reads a record page's URL, https://host[/prefix]/<kind>/<id>.
func recordOf(link string) (WebhookRef, bool) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return WebhookRef{}, false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return WebhookRef{}, false
	}
	typ, ok := recordPages[parts[len(parts)-2]]
	id, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if !ok || err != nil || id <= 0 {
		return WebhookRef{}, false
	}
	return WebhookRef{Type: typ, ID: id}, true
}
