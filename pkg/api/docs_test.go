package api_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/usersync/usersync/pkg/api"
)

// docsServer serves the API with reads closed to anonymous callers, so
// that a page which needed a token would show it.
func docsServer(t *testing.T) *httptest.Server {
	t.Helper()
	store := &fakeStore{users: testUsers()}
	h, err := api.NewHandler(api.Config{
		Deps:     api.Deps{Users: store, Assets: store, Runs: store},
		BasePath: "/api",
		DB:       store,
		Version:  "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// rawGet fetches url without the transport's transparent gzip handling.
func rawGet(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestDocsPageLoadsNothingFromElsewhere checks the page a browser gets at
// /docs: a CSP that allows only this origin and no inline code, relative
// links only, and every linked asset served from the binary.
func TestDocsPageLoadsNothingFromElsewhere(t *testing.T) {
	srv := docsServer(t)
	resp, body := rawGet(t, srv.URL+"/docs")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := map[string]string{}
	for d := range strings.SplitSeq(resp.Header.Get("Content-Security-Policy"), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = value
	}
	for directive, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"connect-src":     "'self'",
		"img-src":         "'self' data:",
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
	} {
		if csp[directive] != want {
			t.Errorf("CSP %s = %q, want %q (whole policy: %q)", directive, csp[directive], want, resp.Header.Get("Content-Security-Policy"))
		}
	}
	if _, ok := csp["sandbox"]; ok {
		t.Errorf("CSP has a sandbox directive; Chromium warns about it")
	}
	page := string(body)
	if strings.Contains(page, "://") || strings.Contains(page, "<style") || regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(page) {
		t.Errorf("the page has an absolute URL or inline code:\n%s", page)
	}

	links := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	var assets []string
	for _, l := range links {
		if strings.HasPrefix(l[1], "docs/") {
			assets = append(assets, l[1])
		}
	}
	for _, want := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "docs.js", "docs.css"} {
		if !slices.ContainsFunc(assets, func(a string) bool { return strings.HasSuffix(a, "/"+want) }) {
			t.Errorf("the page does not load %s: %v", want, assets)
		}
	}
	for _, a := range assets {
		resp, body := rawGet(t, srv.URL+"/"+a)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET /%s = %d, %d bytes", a, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET /%s: Cache-Control %q; a versioned asset may be kept for good", a, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET /%s: X-Content-Type-Options %q", a, got)
		}
	}
	if resp, _ := rawGet(t, srv.URL+"/api/users"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/users without a token = %d; the test needs reads closed", resp.StatusCode)
	}
}

func TestDocsAssets(t *testing.T) {
	srv := docsServer(t)
	_, page := rawGet(t, srv.URL+"/docs")
	m := regexp.MustCompile(`src="(docs/[0-9a-f]+/)swagger-ui-bundle.js"`).FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no bundle on the page:\n%s", page)
	}
	dir := srv.URL + "/" + m[1]

	t.Run("gzip to browsers that take it, plain to others", func(t *testing.T) {
		zipped, zbody := rawGet(t, dir+"swagger-ui-bundle.js", "Accept-Encoding", "gzip, deflate, br")
		if zipped.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(zipped.Header.Get("Content-Type"), "application/javascript") {
			t.Fatalf("gzip-capable GET: %d, Content-Encoding %q, Content-Type %q", zipped.StatusCode,
				zipped.Header.Get("Content-Encoding"), zipped.Header.Get("Content-Type"))
		}
		zr, err := gzip.NewReader(strings.NewReader(string(zbody)))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		plain, pbody := rawGet(t, dir+"swagger-ui-bundle.js")
		if plain.Header.Get("Content-Encoding") != "" || string(pbody) != string(unzipped) || !strings.Contains(string(pbody), "SwaggerUIBundle") {
			t.Errorf("plain GET: Content-Encoding %q, %d bytes, want the %d bytes of the gzipped one", plain.Header.Get("Content-Encoding"),
				len(pbody), len(unzipped))
		}
	})

	t.Run("an asset of another release is served but not kept", func(t *testing.T) {
		resp, _ := rawGet(t, srv.URL+"/docs/0123456789ab/docs.js")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET an old version = %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	})

	for _, file := range []string{"nothing.js", "index.html", "..%2Fdocs.go", "%2E%2E%2Fdocsui%2Findex.html"} {
		t.Run("no "+file, func(t *testing.T) {
			resp, _ := rawGet(t, dir+file)
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("GET %s = %d %s, want 404 problem+json", file, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "max-age") {
				t.Errorf("GET %s: a 404 with Cache-Control %q would stick", file, cc)
			}
		})
	}

	t.Run("/docs/ sends the browser to /docs, keeping any ingress prefix", func(t *testing.T) {
		resp, _ := rawGet(t, srv.URL+"/docs/")
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "../docs" {
			t.Errorf("GET /docs/ = %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		for _, u := range []string{srv.URL + "/docs", dir + "docs.css"} {
			resp, err := http.Head(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("HEAD %s = %d", u, resp.StatusCode)
			}
		}
	})
}
