package helm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// ingressPath is one path of an Ingress rule.
type ingressPath struct{ path, pathType string }

// ingressPaths returns the paths of the Ingress's rule for host, and fails
// when a path's backend is not the API's Service.
func ingressPaths(t *testing.T, ing object, host string) []ingressPath {
	t.Helper()
	rules, _ := get(ing, "spec", "rules").([]any)
	var out []ingressPath
	for i := range rules {
		if get(rules, i, "host") != host {
			continue
		}
		paths, _ := get(rules, i, "http", "paths").([]any)
		for j := range paths {
			p := get(paths, j)
			if svc := get(p, "backend", "service", "name"); svc != "r-usersync-api" || get(p, "backend", "service", "port", "name") != "http" {
				t.Errorf("Ingress path %v goes to %v, want the API's Service", get(p, "path"), get(p, "backend"))
			}
			path, _ := get(p, "path").(string)
			pathType, _ := get(p, "pathType").(string)
			out = append(out, ingressPath{path, pathType})
		}
	}
	if len(out) == 0 {
		t.Fatalf("the Ingress has no paths for host %s: %v", host, ing["spec"])
	}
	return out
}

// routed reports whether Kubernetes' Ingress path matching sends the
// request path p to one of paths: Exact is the whole path, Prefix matches
// whole path elements ("/docs" matches /docs and /docs/x, not /docsx),
// a trailing slash ignored.
func routed(paths []ingressPath, p string) bool {
	for _, r := range paths {
		switch r.pathType {
		case "Exact":
			if p == r.path {
				return true
			}
		case "Prefix":
			prefix := strings.TrimRight(r.path, "/")
			if prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/") {
				return true
			}
		}
	}
	return false
}

// servedPaths runs the real usersapi with BASE_PATH basePath and returns
// the paths a reader reaches through an Ingress: every operation of its
// OpenAPI document, and the documentation — /docs and every file its page
// loads, resolved as a browser resolves the page's relative URLs, each one
// checked to be served.
func servedPaths(t *testing.T, basePath string) (operations, docs []string) {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("read:r-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api := startUsersapi(t, []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "API_TOKENS_FILE=" + tokens, "BASE_PATH=" + basePath})
	fetch := func(p string) []byte {
		t.Helper()
		code, body := request(t, http.MethodGet, api.Base+p, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, code)
		}
		return body
	}
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(fetch("/openapi.json"), &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for p := range doc.Paths {
		operations = append(operations, param.ReplaceAllString(p, "1"))
	}
	slices.Sort(operations)

	page, err := url.Parse("/docs")
	if err != nil {
		t.Fatal(err)
	}
	docs = []string{page.Path}
	for _, m := range regexp.MustCompile(`(?:href|src|data-spec)="([^"]+)"`).FindAllSubmatch(fetch("/docs"), -1) {
		ref, err := url.Parse(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		p := page.ResolveReference(ref).Path
		fetch(p)
		docs = append(docs, p)
	}
	if !slices.Contains(docs, "/openapi.json") || len(docs) < 5 {
		t.Fatalf("the docs page loads %v; want its assets and /openapi.json", docs)
	}
	return operations, docs
}

// TestIngressRoutesTheAPIAndItsDocs renders the Ingress for both shapes of
// api.basePath (none, and a prefix; each with and without a trailing
// slash) and checks it against what a real usersapi serves: every
// API operation, and (api.ingress.docs, on by default) the documentation
// page, every file it loads and the OpenAPI document are reachable through
// it; the probes and /metrics never are. The webhook's own Ingress routes
// the webhook's route (POST BASE_PATH/webhooks/snipeit/SECRET) and nothing
// else usersapi serves.
func TestIngressRoutesTheAPIAndItsDocs(t *testing.T) {
	h := helms(t)[0]
	ingress := []string{"--set", "snipeit.url=https://s", "--set", "snipeit.token=x", "--set", "secrets.generateWithoutCluster=true",
		"--set", "api.ingress.enabled=true", "--set", "api.ingress.hosts[0]=users.example.com",
		"--set", "api.webhook.enabled=true", "--set", "api.webhook.ingress.enabled=true", "--set", "api.webhook.ingress.hosts[0]=hooks.example.com"}
	internal := []string{"/metrics", "/healthz", "/readyz"}
	type served struct{ operations, docs []string }
	byBase := map[string]served{}
	// "/" is no base path and "/api/" is "/api", to usersapi and the chart.
	for _, basePath := range []string{"", "/", "/api", "/api/"} {
		canonical := strings.TrimRight(basePath, "/")
		if _, ok := byBase[canonical]; !ok {
			operations, docs := servedPaths(t, canonical)
			byBase[canonical] = served{operations, docs}
		}
		operations, docs := byBase[canonical].operations, byBase[canonical].docs
		for _, docsOn := range []bool{true, false} {
			name := fmt.Sprintf("basePath %q, docs %v", basePath, docsOn)
			args := append(slices.Clone(ingress), "--set", "api.basePath="+basePath)
			if !docsOn {
				args = append(args, "--set", "api.ingress.docs=false")
			}
			ms := h.mustTemplate(t, nil, args...)
			paths := ingressPaths(t, ms.find("Ingress", "r-usersync-api"), "users.example.com")
			hooks := ingressPaths(t, ms.find("Ingress", "r-usersync-webhook"), "hooks.example.com")
			if webhook := canonical + "/webhooks/snipeit/1"; !routed(paths, webhook) || !routed(hooks, webhook) {
				t.Errorf("%s: the webhook's route %s is not routed by the API's Ingress %v and the webhook's %v", name, webhook, paths, hooks)
			}
			for _, p := range slices.Concat(operations, docs, internal) {
				if routed(hooks, p) && !strings.HasPrefix(p, canonical+"/webhooks/snipeit/") {
					t.Errorf("%s: the webhook's Ingress routes %s (%v): it routes the webhook alone", name, p, hooks)
				}
			}
			for _, p := range operations {
				if !routed(paths, p) {
					t.Errorf("%s: the API operation %s is not routed by %v", name, p, paths)
				}
			}
			for _, p := range docs {
				if routed(paths, p) != docsOn {
					t.Errorf("%s: %s routed %v, want %v (%v)", name, p, !docsOn, docsOn, paths)
				}
			}
			for _, p := range internal {
				if routed(paths, p) {
					t.Errorf("%s: %s is routed by %v: probes and metrics stay inside the cluster", name, p, paths)
				}
			}
		}
	}
}
