package snipeittest

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/usersync/usersync/pkg/model"
)

// The two write routes a person or an end-to-end test uses to make
// Snipe-IT send a webhook from outside the process, as with a real
// Snipe-IT:
//
//	curl -X POST -H "Authorization: Bearer $TOKEN" -H "Accept: application/json" \
//	     -d checkout_to_type=user -d assigned_user=42 $SNIPEIT_URL/api/v1/hardware/912/checkout
//	curl -X POST ... $SNIPEIT_URL/api/v1/hardware/912/checkin
//
// They answer as Api\AssetsController does: HTTP 200 with
// {"status":"success"|"error","messages":…,"payload":{"asset":tag}}.

// apiCheckout is POST /api/v1/hardware/{id}/checkout to a user
// (checkout_to_type=user, assigned_user=<id>), form or JSON body.
func (s *Server) apiCheckout(r *http.Request, id string) response {
	params, err := writeParams(r)
	if err != nil {
		return envelope(http.StatusUnprocessableEntity, "Invalid JSON")
	}
	assetID, _ := strconv.ParseInt(id, 10, 64)
	tag, ok := s.assetTag(assetID)
	if !ok {
		return envelope(http.StatusOK, "Asset not found")
	}
	if typ := params["checkout_to_type"]; typ != "" && typ != "user" {
		return writeAnswer("error", tag, "The simulator checks assets out to users only (checkout_to_type=user).")
	}
	userID, _ := strconv.ParseInt(params["assigned_user"], 10, 64)
	switch err := s.CheckoutAsset(assetID, userID); {
	case err == nil:
		return writeAnswer("success", tag, "Asset checked out successfully.")
	case errors.Is(err, model.ErrNotFound):
		return writeAnswer("error", tag, "Checkout target for asset "+tag+" is invalid - user does not exist.")
	default:
		return writeAnswer("error", tag, "That asset is not available for checkout!")
	}
}

// apiCheckin is POST /api/v1/hardware/{id}/checkin.
func (s *Server) apiCheckin(r *http.Request, id string) response {
	if _, err := writeParams(r); err != nil {
		return envelope(http.StatusUnprocessableEntity, "Invalid JSON")
	}
	assetID, _ := strconv.ParseInt(id, 10, 64)
	tag, ok := s.assetTag(assetID)
	if !ok {
		return envelope(http.StatusOK, "Asset not found")
	}
	if err := s.CheckinAsset(assetID); err != nil {
		return writeAnswer("error", tag, "That asset is already checked in.")
	}
	return writeAnswer("success", tag, "Asset checked in successfully.")
}

// assetTag is the tag of the live asset with id.
func (s *Server) assetTag(id int64) (string, bool) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	a := s.store.asset(id)
	if a == nil || !a.DeletedAt.IsZero() {
		return "", false
	}
	return a.AssetTag, true
}

// writeParams reads a write's parameters from a JSON object or a form.
func writeParams(r *http.Request) (map[string]string, error) {
	params := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		for k := range r.Form {
			params[k] = r.Form.Get(k)
		}
		return params, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(body)) == "" {
		return params, nil
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			params[k] = v
		case float64:
			params[k] = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return params, nil
}

// writeAnswer is formatStandardApiResponse(status, ['asset' => tag], msg).
func writeAnswer(status, tag, msg string) response {
	w := jsonWriter{}
	w.beginObject("")
	w.plain("status", status)
	w.plain("messages", msg)
	w.beginObject("payload")
	w.str("asset", tag)
	w.endObject()
	w.endObject()
	return jsonResponse(http.StatusOK, w.b)
}
