package api

import (
	"net/url"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/usersync/usersync/pkg/model"
)

// defaultPageLimit is the page size when a request carries a cursor but no
// limit (a hand-made URL; Link headers always carry the limit).
const defaultPageLimit = 100

// Paging is the limit and cursor of a listing. It also remembers the
// request URL, from which the next page's Link is built: same path (so
// BASE_PATH is kept), same filters, the new cursor.
type Paging struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" doc:"Page size (1-1000). Without limit and cursor the whole listing is streamed."`
	Cursor string `query:"cursor" maxLength:"100" doc:"Where the page starts: the cursor from the previous page's Link header."`
	url    url.URL
}

// Resolve implements huma.Resolver to capture the request URL.
func (p *Paging) Resolve(ctx huma.Context) []error {
	p.url = ctx.URL()
	return nil
}

func (p *Paging) paged() bool { return p.Limit != 0 || p.Cursor != "" }

func (p *Paging) page() model.Page {
	limit := p.Limit
	if limit == 0 {
		limit = defaultPageLimit
	}
	return model.Page{Limit: limit, Cursor: p.Cursor}
}

// nextLink is the Link header value of the page after this one.
func (p *Paging) nextLink(cursor string) string {
	q := p.url.Query()
	q.Set("cursor", cursor)
	q.Set("limit", strconv.Itoa(p.page().Limit))
	next := url.URL{Path: p.url.Path, RawQuery: q.Encode()}
	return "<" + next.String() + `>; rel="next"`
}
