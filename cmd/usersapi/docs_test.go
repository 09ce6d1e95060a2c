package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// TestDocsInABrowser loads /docs from a running usersapi in headless
// Chromium that can reach nothing but loopback, as in an air-gapped
// cluster: the page must list every operation of /openapi.json by path and
// summary, let a user authorize with a token and run "Try it out", and do
// all that without a console error, a CSP violation, a failed request or a
// request to another origin. A screenshot of each page is kept as a test
// artifact (go test -artifacts).
func TestDocsInABrowser(t *testing.T) {
	browser := startChromium(t)
	dbURL := seedDatabase(t, genUsers(20), nil)
	tokens := writeTokenFile(t)

	for _, tc := range []struct {
		name     string
		basePath string
		// prefix is stripped by a reverse proxy in front of usersapi, as
		// an ingress serving it under a path would.
		prefix string
	}{
		{"at the root", "", ""},
		{"under BASE_PATH", "/api", ""},
		{"under BASE_PATH behind an ingress prefix", "/api", "/mirror"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startAPI(t, "DATABASE_URL="+dbURL, "BASE_PATH="+tc.basePath, "API_TOKENS_FILE="+tokens)
			origin := p.Base
			if tc.prefix != "" {
				target, err := url.Parse(p.Base)
				if err != nil {
					t.Fatal(err)
				}
				ingress := httptest.NewServer(http.StripPrefix(tc.prefix, httputil.NewSingleHostReverseProxy(target)))
				t.Cleanup(ingress.Close)
				origin = ingress.URL
			}
			want := documentedOperations(t, p.Base)
			if !slices.ContainsFunc(want, func(o operation) bool { return o.Path == tc.basePath+"/users" }) {
				t.Fatalf("/openapi.json has no %s/users: %v", tc.basePath, want)
			}

			tab := openTab(t, browser, origin)
			ctx, cancel := context.WithTimeout(tab.ctx, 2*time.Minute)
			defer cancel()
			defer tab.screenshot(t)
			if err := chromedp.Do(ctx, chromedp.Navigate(origin+tc.prefix+"/docs")); err != nil {
				t.Fatalf("navigate: %v", err)
			}

			// Every operation, by method, path (which carries BASE_PATH) and summary.
			got, err := chromedp.Run(ctx, chromedp.PollFunction[[]operation](`(n) => {
				const ops = Array.from(document.querySelectorAll(".opblock"), (el) => ({
					method: el.querySelector(".opblock-summary-method")?.textContent.toLowerCase(),
					path: el.querySelector(".opblock-summary-path")?.dataset.path,
					summary: el.querySelector(".opblock-summary-description")?.textContent,
				}));
				return ops.length >= n && ops;
			}`, chromedp.WithPollingArgs(len(want)), chromedp.WithPollingTimeout(time.Minute)))
			if err != nil {
				t.Fatalf("the operations never showed: %v; problems:\n%s", err, strings.Join(tab.problems(), "\n"))
			}
			sortOperations(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("operations on the page (-/openapi.json +page):\n%s", diff)
			}

			// A user's path through the page: Authorize with a token, open
			// "List users", Try it out with limit=2, Execute.
			const op = "#operations-users-list-users"
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(".auth-wrapper .authorize")),
				chromedp.SendKeys(chromedp.CSS(`.modal-ux input[aria-label="auth-bearer-value"]`), readToken),
				chromedp.Click(chromedp.CSS(`.modal-ux .auth-btn-wrapper button[type="submit"]`)),
				chromedp.Click(chromedp.CSS(".modal-ux .btn-done")),
				chromedp.WaitNotPresent(chromedp.CSS(".modal-ux")),
				chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
				chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
				chromedp.SendKeys(chromedp.CSS(op+` tr[data-param-name="limit"] input`), "2"),
				chromedp.Click(chromedp.CSS(op+" .execute")),
				chromedp.WaitVisible(chromedp.CSS(op+" .live-responses-table .response .response-col_status")),
			)
			if err != nil {
				t.Fatalf("try it out: %v; problems:\n%s", err, strings.Join(tab.problems(), "\n"))
			}
			status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .live-responses-table .response .response-col_status")))
			if err != nil {
				t.Fatal(err)
			}
			requestURL, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .request-url pre")))
			if err != nil {
				t.Fatal(err)
			}
			body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .live-responses-table .response .response-col_description pre")))
			if err != nil {
				t.Fatal(err)
			}
			if wantURL := origin + tc.prefix + tc.basePath + "/users?limit=2"; strings.TrimSpace(requestURL) != wantURL {
				t.Errorf("Try it out called %q, want %q", requestURL, wantURL)
			}
			if strings.TrimSpace(status) != "200" || !strings.Contains(body, `"username": "user00003"`) {
				t.Errorf("Try it out answered %q: %.300s", status, body)
			}

			if problems := tab.problems(); len(problems) > 0 {
				t.Errorf("the page had problems:\n%s", strings.Join(problems, "\n"))
			}
			if n := tab.requests(origin); n < 4 {
				t.Errorf("the page made %d requests to %s; want the page, its assets and the API", n, origin)
			}
		})
	}
}

// operation is one operation as /openapi.json declares it and the page shows it.
type operation struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Summary string `json:"summary"`
}

func sortOperations(ops []operation) {
	slices.SortFunc(ops, func(a, b operation) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	})
}

// documentedOperations reads the operations from the running service's
// /openapi.json, so that the check follows the API as it grows.
func documentedOperations(t *testing.T, base string) []operation {
	t.Helper()
	resp, body := get(t, base+"/openapi.json", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/openapi.json = %d", resp.StatusCode)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ops = append(ops, operation{Method: method, Path: path, Summary: op.Summary})
		}
	}
	sortOperations(ops)
	return ops
}

// startChromium starts Debian's headless Chromium, with no way out of
// loopback, and returns its chromedp context. Without Chromium the test
// skips, except under CI, where it fails.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	bin := os.Getenv("CHROMIUM")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("chromium"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("chromium is not installed (hack/setup-test-env.sh installs it); CI needs it")
			}
			t.Skip("chromium is not installed; hack/setup-test-env.sh installs it")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		// Names resolve to nothing: a page that reaches for a CDN fails
		// here the way it would in an air-gapped cluster.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Do starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab is a browser tab that records what went wrong on its page.
type tab struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
	urls []string
}

// openTab opens a tab in browser whose requests must all go to origin.
func openTab(t *testing.T, browser context.Context, origin string) *tab {
	t.Helper()
	tb := &tab{}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(func(ev any) {
		// The tab's event loop calls this: record and return.
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				tb.errs = append(tb.errs, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			tb.errs = append(tb.errs, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning {
				tb.errs = append(tb.errs, fmt.Sprintf("browser %s (%s): %s %s", e.Level, e.Source, e.Text, e.URL))
			}
		case *network.EventRequestWillBeSent:
			u := ev.Request.URL
			tb.urls = append(tb.urls, u)
			// data: URLs are Swagger UI's icons, inside its stylesheet.
			if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") {
				tb.errs = append(tb.errs, "request to another origin: "+u)
			}
		case *network.EventLoadingFailed:
			tb.errs = append(tb.errs, fmt.Sprintf("request %s failed: %s %s", ev.RequestID, ev.ErrorText, ev.BlockedReason))
		case *network.EventResponseReceived:
			if r := ev.Response; r.Status >= 400 {
				tb.errs = append(tb.errs, fmt.Sprintf("%s answered %d", r.URL, r.Status))
			}
		}
	}))
	t.Cleanup(cancel)
	// CSP violations are also reported to the page: log them where the
	// listener sees them, with what was blocked and where.
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `document.addEventListener("securitypolicyviolation", (e) =>
			console.error("CSP violation:", e.effectiveDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber));`,
	})
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb.ctx = ctx
	return tb
}

func (tb *tab) problems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.errs)
}

// requests counts the requests that went to origin.
func (tb *tab) requests(origin string) int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for _, u := range tb.urls {
		if strings.HasPrefix(u, origin+"/") {
			n++
		}
	}
	return n
}

// screenshot keeps the whole page as a PNG in the test's artifact
// directory.
func (tb *tab) screenshot(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join(t.ArtifactDir(), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("screenshot: %s", path)
}
