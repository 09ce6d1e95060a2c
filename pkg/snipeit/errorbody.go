package snipeit

import (
	"bytes"
	"html"
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Every member stays raw, so no shape of a member can hide the others: in
// an asset row "status" is the status label object.
type errorBody struct {
	Status     jsontext.Value `json:"status"`
	Messages   jsontext.Value `json:"messages"`
	Message    jsontext.Value `json:"message"`
	Error      jsontext.Value `json:"error"`
	RetryAfter jsontext.Value `json:"retryAfter"`
}

// parseErrorBody reads the members of an error envelope from body; false
// when body is not a JSON object.
func parseErrorBody(body []byte) (errorBody, bool) {
	var eb errorBody
	err := json.Unmarshal(body, &eb, jsontext.AllowDuplicateNames(true))
	return eb, err == nil
}

// isErrorStatus reports whether a "status" member is the string "error".
func isErrorStatus(raw []byte) bool {
	return string(bytes.TrimSpace(raw)) == `"error"`
}

// text returns the human message of an error body, whatever its shape
// (a string, or an object of field → [messages]).
func (e *errorBody) text() string {
	for _, raw := range []jsontext.Value{e.Messages, e.Message, e.Error} {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return html.UnescapeString(s)
		}
		return string(raw)
	}
	return ""
}

// retryAfter is the body's retryAfter in seconds (a number, or a numeric
// string); false when absent or unreadable.
func (e *errorBody) retryAfter() (float64, bool) {
	f, err := strconv.ParseFloat(string(bytes.Trim(e.RetryAfter, `"`)), 64)
	return f, err == nil && f >= 0
}
