package snipeittest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// mustNew is New for tests.
func mustNew(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// serve sends one in-process request with the full token and Accept:
// application/json, unless headers override them ("" removes a header).
func serve(t *testing.T, h http.Handler, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return serveMethod(t, h, http.MethodGet, target, headers...)
}

func serveMethod(t *testing.T, h http.Handler, method, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.Header.Set("Authorization", "Bearer "+DefaultToken)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "usersync-test/1.0")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// listBody is the part of a list envelope tests look at.
type listBody struct {
	Total       int               `json:"total"`
	Rows        []json.RawMessage `json:"rows"`
	CurrentPage *int              `json:"current_page"`
	PerPage     *int              `json:"per_page"`
	TotalPages  *int              `json:"total_pages"`
	PrevPageURL *string           `json:"prev_page_url"`
	NextPageURL *string           `json:"next_page_url"`
}

// rowIDs returns the ids of a list page's rows.
func (b listBody) rowIDs(t *testing.T) []int64 {
	t.Helper()
	ids := make([]int64, 0, len(b.Rows))
	for _, raw := range b.Rows {
		var r struct{ ID int64 }
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("row %s: %v", raw, err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// list fetches a list page in process and decodes its envelope.
func list(t *testing.T, h http.Handler, target string) listBody {
	t.Helper()
	w := serve(t, h, target)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", target, w.Code, w.Body)
	}
	var b listBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("GET %s: %v in %s", target, err, w.Body)
	}
	return b
}

// readTestdata reads a file of pkg/snipeit/testdata.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flatten lists a JSON document as path=value lines in document order,
// objects' keys in the order they appear: two documents flatten alike
// exactly when they have the same keys in the same order, the same types
// and the same values.
func flatten(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out []string
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if !dec.More() {
					out = append(out, path+"={}")
				}
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					if err := walk(path + "." + k.(string)); err != nil {
						return err
					}
				}
			case '[':
				if !dec.More() {
					out = append(out, path+"=[]")
				}
				for i := 0; dec.More(); i++ {
					if err := walk(fmt.Sprintf("%s[%d]", path, i)); err != nil {
						return err
					}
				}
			}
			_, err := dec.Token() // the closing delimiter
			return err
		case string:
			out = append(out, fmt.Sprintf("%s=%q", path, v))
		case json.Number:
			out = append(out, path+"="+v.String())
		case nil:
			out = append(out, path+"=null")
		default:
			out = append(out, fmt.Sprintf("%s=%v", path, v))
		}
		return nil
	}
	if err := walk("$"); err != nil {
		t.Fatalf("flatten %.200s: %v", doc, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("flatten: trailing data after the document")
	}
	return out
}

// must fails the test on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
