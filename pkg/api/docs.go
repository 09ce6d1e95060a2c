package api

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"
	swaggerui "github.com/swaggest/swgui/v5/static"
	"github.com/vearutop/statigz"
)

// docsUI is the page around Swagger UI: its HTML, the script that starts
// it and a little CSS.
//
//go:embed docsui
var docsUI embed.FS

// docsCSP lets the documentation page load nothing but its own files from
// this origin: no inline script or style, no other origin, no framing.
// Swagger UI's stylesheet draws its icons as data: images.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docs serves the documentation UI at /docs: Swagger UI 5 (it renders
// OpenAPI 3.1), embedded in the binary from github.com/swaggest/swgui —
// gzipped, so it adds about 0.7 MB — instead of huma's page, which loads
// its viewer from a CDN and stays blank where the cluster has no internet.
//
// Every URL on the page is relative (docs/<version>/…, openapi.json), so it
// also works behind an ingress that strips a path prefix. The assets'
// URLs carry a digest of their content, so browsers may keep them for good
// and a new release is never mixed with a cached old one.
type docs struct {
	page    []byte
	version string
	ownFile map[string]bool // docsui's files but the page
	own     http.Handler
	ui      http.Handler // Swagger UI's files
}

// newDocs prepares the page and the asset servers.
func newDocs() (*docs, error) {
	own, err := fs.Sub(docsUI, "docsui")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	ownFile := map[string]bool{}
	for _, fsys := range []fs.FS{own, swaggerui.FS} {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if fsys == own && p != "index.html" {
				ownFile[p] = true
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %d\n", p, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("hash documentation assets: %w", err)
		}
	}
	version := hex.EncodeToString(h.Sum(nil))[:12]
	page, err := fs.ReadFile(own, "index.html")
	if err != nil {
		return nil, err
	}
	notFound := func(s *statigz.Server) {
		s.OnNotFound = func(w http.ResponseWriter, _ *http.Request) {
			// serveAsset has already promised the asset for good.
			w.Header().Set("Cache-Control", "no-store")
			writeProblem(w, http.StatusNotFound, "no such path")
		}
	}
	return &docs{
		page:    []byte(strings.ReplaceAll(string(page), "{{version}}", version)),
		version: version,
		ownFile: ownFile,
		own:     statigz.FileServer(own.(fs.ReadDirFS), notFound),
		ui:      statigz.FileServer(swaggerui.FS, notFound),
	}, nil
}

// mount routes /docs and its assets on r. They are public, like
// /openapi.json: the page holds no data, and a token is typed into it.
func (d *docs) mount(r chi.Router) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r.MethodFunc(method, "/docs", d.servePage)
		// The page's relative links need it at /docs, not /docs/; a
		// relative Location keeps an ingress prefix.
		r.MethodFunc(method, "/docs/", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "../docs")
			w.WriteHeader(http.StatusMovedPermanently)
		})
		r.MethodFunc(method, "/docs/{version}/{file}", d.serveAsset)
	}
}

func (d *docs) servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Always revalidated, so that a new release's page (and with it the
	// new asset version) is picked up at once.
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(d.page)
}

func (d *docs) serveAsset(w http.ResponseWriter, r *http.Request) {
	file := path.Clean(chi.URLParam(r, "file"))
	srv := d.ui
	if d.ownFile[file] {
		srv = d.own
	} else if file == "index.html" {
		writeProblem(w, http.StatusNotFound, "no such path")
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if chi.URLParam(r, "version") == d.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// A page from another release (a rolling update): serve what
		// this one has, but do not let it stick.
		h.Set("Cache-Control", "no-cache")
	}
	r2 := *r
	u := *r.URL
	u.Path, u.RawPath = "/"+file, ""
	r2.URL = &u
	srv.ServeHTTP(w, &r2)
}
