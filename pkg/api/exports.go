package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// Export is one recorded export: a CSV listing or a listing streamed whole.
type Export struct {
	ID              int64             `json:"id"`
	StartedAt       time.Time         `json:"started_at"`
	FinishedAt      time.Time         `json:"finished_at"`
	DurationSeconds float64           `json:"duration_seconds"`
	TokenName       *string           `json:"token_name" doc:"The name of the token in API_TOKENS_FILE (never the token); null for a token without a name, or a public read without one."`
	Resource        string            `json:"resource" enum:"users,assets,user_assets"`
	Filters         map[string]string `json:"filters" doc:"The listing's filters as the request gave them (user_id for user_assets)."`
	Format          string            `json:"format" enum:"json,csv"`
	Rows            int64             `json:"rows" doc:"Rows sent."`
	Bytes           int64             `json:"bytes" doc:"Bytes of the body sent."`
	Outcome         string            `json:"outcome" enum:"completed,cut" doc:"cut when the response ended early: the client went away or stalled, the stream ran past its time bound, the server shut down or the database failed midway."`
	RequestID       *string           `json:"request_id" doc:"The X-Request-Id of the export, as in the access log."`
}

func newExport(e *model.Export) Export {
	filters := e.Filters
	if filters == nil {
		filters = map[string]string{}
	}
	return Export{
		ID: e.ID, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt,
		DurationSeconds: e.FinishedAt.Sub(e.StartedAt).Seconds(), TokenName: optString(&e.TokenName),
		Resource: e.Resource, Filters: filters, Format: e.Format, Rows: e.Rows, Bytes: e.Bytes,
		Outcome: string(e.Outcome), RequestID: optString(&e.RequestID),
	}
}

type listExportsInput struct {
	Paging
}

type listExportsOutput struct {
	Link string `header:"Link" doc:"<URL>; rel=\"next\" when another page follows."`
	Body []Export
}

// defaultExportsLimit is the page size of GET /exports without limit.
const defaultExportsLimit = 50

func (s *service) registerExports() {
	get(s, scopeRead, "list-exports", tagExport, "/exports", "List exports",
		func(ctx context.Context, in *listExportsInput) (*listExportsOutput, error) {
			out := &listExportsOutput{Body: []Export{}}
			if s.deps.Exports == nil {
				return out, nil
			}
			if in.Limit == 0 {
				in.Limit = defaultExportsLimit
			}
			exports, next, err := s.deps.Exports.ListExports(ctx, in.page())
			if err != nil {
				return nil, err
			}
			for i := range exports {
				out.Body = append(out.Body, newExport(&exports[i]))
			}
			if next != "" {
				out.Link = in.nextLink(next)
			}
			return out, nil
		},
		withErrors(http.StatusUnprocessableEntity),
		withDescription("The export history, newest first, 50 a page unless limit says otherwise; a Link header "+
			"with rel=\"next\" gives the next page. Every CSV answer of GET /users, /assets and "+
			"/users/{user_id}/assets and every JSON listing of /users or /assets without limit is recorded: when, by which token's "+
			"name, what with which filters, rows, bytes, and whether it completed or was cut."))
}

// historyTimeout bounds the write of one export_history row.
const historyTimeout = 2 * time.Second

// recordExport counts an export and writes its history row. A row that
// cannot be written is logged and counted, never turned into a failure of
// the export, which has been served already.
func (s *service) recordExport(ctx context.Context, e model.Export) {
	s.metrics.exports.WithLabelValues(e.Resource, e.Format, string(e.Outcome)).Inc()
	if s.deps.ExportLog == nil {
		return
	}
	// Neither a client gone nor a shutdown under way keeps the export out
	// of the history.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), historyTimeout)
	defer cancel()
	if err := s.deps.ExportLog.RecordExport(rctx, e); err != nil {
		s.metrics.historyFailures.Inc()
		s.log.WarnContext(ctx, "export served but not recorded in export_history", "err", err,
			"request_id", e.RequestID, "resource", e.Resource, "format", e.Format, "rows", e.Rows)
	}
}

// filterSet collects the filters a request gave, by query parameter name,
// for the export history.
type filterSet map[string]string

func (f filterSet) text(name, v string) {
	if v != "" {
		f[name] = v
	}
}

func (f filterSet) id(name string, v optional[int64]) {
	if v.IsSet {
		f[name] = strconv.FormatInt(v.Value, 10)
	}
}

func (f filterSet) flag(name string, v bool) {
	if v {
		f[name] = "true"
	}
}
