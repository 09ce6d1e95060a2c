// Package dashboard builds usersync's Grafana dashboard from code, so that
// the metric names it queries are constants here, checked against what the
// binaries really expose (deploy/helm's cluster test), and the JSON the
// chart ships (deploy/helm/usersync/files/dashboard.json) is what JSON
// returns (a test of this package keeps it current).
package dashboard

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's stable uid: links to it survive re-imports.
const UID = "usersync"

// Metric names, as usersync pushes them (job "usersync", one group per
// scope, and per instance where installations share a Pushgateway) and
// usersapi serves them (job "usersapi"; the chart's ServiceMonitor labels
// its series usersync_instance, with the installation's instance).
const (
	LastSuccess           = "usersync_last_success_timestamp_seconds"
	LastFullSuccess       = "usersync_last_full_success_timestamp_seconds"
	LastCompletion        = "usersync_last_completion_timestamp_seconds"
	LastRunSuccess        = "usersync_last_run_success"
	LastRunSkipped        = "usersync_last_run_skipped"
	RunDuration           = "usersync_last_run_duration_seconds"
	RunRecords            = "usersync_last_run_records"
	SnipeITRequests       = "usersync_last_run_snipeit_requests"
	SnipeITLatency        = "usersync_last_run_snipeit_request_duration_seconds"
	SnipeITRetries        = "usersync_last_run_snipeit_retries"
	SnipeITRateLimited    = "usersync_last_run_snipeit_rate_limited"
	RateLimitWait         = "usersync_last_run_rate_limit_wait_seconds"
	MirrorRows            = "usersync_mirror_rows"
	APIRequests           = "usersapi_http_requests_total"
	APILatency            = "usersapi_http_request_duration_seconds"
	APIInFlight           = "usersapi_http_requests_in_flight"
	APISyncTriggers       = "usersapi_sync_triggers_total"
	APIKubernetesLatency  = "usersapi_kubernetes_request_duration_seconds"
	syncSelector          = `{job="usersync",instance=~"$instance"}`
	apiSelector           = `{job="usersapi",usersync_instance=~"$instance"}`
	apiServerErrSelector  = `{job="usersapi",usersync_instance=~"$instance",code=~"5.."}`
	staleThresholdSeconds = 13 * 3600
)

// datasource is the dashboard's Prometheus, chosen by a variable.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// query is one Prometheus target.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().Expr(expr).Datasource(datasource)
	if legend != "" {
		q = q.LegendFormat(legend)
	}
	return q
}

func thresholds(steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

func step(value *float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: value, Color: color}
}

func legend() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).
		Placement(common.LegendPlacementRight).ShowLegend(true).Calcs([]string{"lastNotNull"})
}

// series is a time-series panel of the given width.
func series(title, description, unit string, width uint32, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(description).Unit(unit).
		Datasource(datasource).Height(8).Span(width).Legend(legend()).FillOpacity(10).LineWidth(1)
	for _, t := range targets {
		p = p.WithTarget(t)
	}
	return p
}

// Build returns the dashboard. It uses the classic dashboard model (the
// SDK prefers v2): that is what Grafana's dashboard sidecar and file
// provisioning load, from Grafana 9 to 12.
//
//lint:ignore SA1019 see above
func Build() (dashboard.Dashboard, error) {
	ok := dashboard.ValueMapping{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText,
		Options: map[string]dashboard.ValueMappingResult{
			"0": {Text: cog.ToPtr("failed"), Color: cog.ToPtr("red")},
			"1": {Text: cog.ToPtr("succeeded"), Color: cog.ToPtr("green")},
		}}}

	//lint:ignore SA1019 the classic model, see above
	b := dashboard.NewDashboardBuilder("usersync").
		Uid(UID).
		Description("The Snipe-IT mirror: sync freshness, outcome, work and Snipe-IT's behaviour per run; the read API's traffic, latency and errors.").
		Tags([]string{"usersync", "snipe-it"}).
		Refresh("1m").
		Time("now-2d", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")).
		// Installations sharing a Pushgateway push under their own
		// instance (the chart's default: <namespace>/<release>). All is
		// ".*", which also matches pushes without an instance label.
		WithVariable(dashboard.NewQueryVariableBuilder("instance").Label("Instance").
			Description("The usersync installation (PUSHGATEWAY_INSTANCE; the chart sets <namespace>/<release>). The API panels follow it through the label usersync_instance, which the chart's ServiceMonitor gives usersapi's series.").
			Datasource(datasource).
			Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(` + LastCompletion + `{job="usersync"}, instance)`)}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).IncludeAll(true).AllValue(".*").
			Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: cog.ToPtr("All")}, Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")}})).
		WithRow(dashboard.NewRowBuilder("Sync (usersync, per run)")).
		WithPanel(stat.NewPanelBuilder().Title("Time since last success").
			Description(fmt.Sprintf("Per instance and scope: since the last successful run that read every row (full), and since the last "+
				"successful run of any kind, incremental runs included (any). Red past %d h: the longest gap between schedules plus an hour "+
				"(alert UsersyncSyncStale, on full runs).", staleThresholdSeconds/3600)).
			Datasource(datasource).Height(5).Span(8).Unit("s").
			Thresholds(thresholds(step(nil, "green"), step(cog.ToPtr(float64(staleThresholdSeconds)), "red"))).
			ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone).
			WithTarget(query("time() - ("+LastFullSuccess+syncSelector+" or "+LastSuccess+syncSelector+")", "{{instance}} {{scope}} full").Instant()).
			WithTarget(query("time() - "+LastSuccess+syncSelector, "{{instance}} {{scope}} any").Instant())).
		WithPanel(stat.NewPanelBuilder().Title("Last run").
			Description("Per instance and scope: whether the latest run that was not skipped succeeded (alert UsersyncSyncFailing).").
			Datasource(datasource).Height(5).Span(8).Mappings([]dashboard.ValueMapping{ok}).
			Thresholds(thresholds(step(nil, "red"), step(cog.ToPtr(1.0), "green"))).
			ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone).
			WithTarget(query(LastRunSuccess+syncSelector, "{{instance}} {{scope}}").Instant())).
		WithPanel(stat.NewPanelBuilder().Title("Mirror rows").
			Description("Live and soft-deleted rows per scope after the latest run.").
			Datasource(datasource).Height(5).Span(8).Unit("short").
			GraphMode(common.BigValueGraphModeArea).ColorMode(common.BigValueColorModeNone).
			WithTarget(query(MirrorRows+syncSelector, "{{instance}} {{scope}} {{state}}"))).
		WithPanel(series("Run outcome", "1 succeeded, 0 failed; skipped runs (another sync held the lock) as 1 on their own line.", "short", 12,
			query(LastRunSuccess+syncSelector, "{{instance}} {{scope}} success"),
			query(LastRunSkipped+syncSelector, "{{instance}} {{scope}} skipped"))).
		WithPanel(series("Run duration by step", "fetch (Snipe-IT), stage (COPY), merge (the transaction), total.", "s", 12,
			query(RunDuration+syncSelector, "{{instance}} {{scope}} {{step}}"))).
		WithPanel(series("Records by action", "What the latest run fetched and did with the rows.", "short", 12,
			query(RunRecords+syncSelector, "{{instance}} {{scope}} {{action}}"))).
		WithPanel(series("Mirror rows over time", "Live and soft-deleted rows per scope.", "short", 12,
			query(MirrorRows+syncSelector, "{{instance}} {{scope}} {{state}}"))).
		WithRow(dashboard.NewRowBuilder("Snipe-IT (as usersync saw it in its latest run)")).
		WithPanel(series("Snipe-IT request rate", "Requests per second while fetching, by scope and status (code 0: no response).", "reqps", 8,
			query(`sum by (instance, scope, code) (`+SnipeITRequests+syncSelector+`) / on (instance, scope) group_left () `+RunDuration+`{job="usersync",instance=~"$instance",step="fetch"}`, "{{instance}} {{scope}} {{code}}"))).
		WithPanel(series("Snipe-IT latency", "Quantiles of the latest run's request durations, body included.", "s", 8,
			query(`histogram_quantile(0.5, sum by (instance, scope, le) (`+SnipeITLatency+`_bucket`+syncSelector+`))`, "{{instance}} {{scope}} p50"),
			query(`histogram_quantile(0.95, sum by (instance, scope, le) (`+SnipeITLatency+`_bucket`+syncSelector+`))`, "{{instance}} {{scope}} p95"),
			query(`sum by (instance, scope) (`+SnipeITLatency+`_sum`+syncSelector+`) / sum by (instance, scope) (`+SnipeITLatency+`_count`+syncSelector+`)`, "{{instance}} {{scope}} mean"))).
		WithPanel(series("Retries, 429s and rate-limit waits", "Retried requests by reason, HTTP 429 answers, and seconds spent waiting for the rate limit.", "short", 8,
			query(`sum by (instance, scope, reason) (`+SnipeITRetries+syncSelector+`)`, "{{instance}} {{scope}} retry {{reason}}"),
			query(SnipeITRateLimited+syncSelector, "{{instance}} {{scope}} 429"),
			query(RateLimitWait+syncSelector, "{{instance}} {{scope}} wait (s)"))).
		WithRow(dashboard.NewRowBuilder("API (usersapi)")).
		WithPanel(series("Request rate", "By installation, route and status.", "reqps", 12,
			query(`sum by (usersync_instance, route, code) (rate(`+APIRequests+apiSelector+`[$__rate_interval]))`, "{{usersync_instance}} {{route}} {{code}}"))).
		WithPanel(series("Latency quantiles", "All routes, per installation; full streams of every user are slow by design.", "s", 12,
			query(`histogram_quantile(0.5, sum by (usersync_instance, le) (rate(`+APILatency+`_bucket`+apiSelector+`[$__rate_interval])))`, "{{usersync_instance}} p50"),
			query(`histogram_quantile(0.9, sum by (usersync_instance, le) (rate(`+APILatency+`_bucket`+apiSelector+`[$__rate_interval])))`, "{{usersync_instance}} p90"),
			query(`histogram_quantile(0.99, sum by (usersync_instance, le) (rate(`+APILatency+`_bucket`+apiSelector+`[$__rate_interval])))`, "{{usersync_instance}} p99"))).
		WithPanel(series("5xx ratio", "Share of requests answered with a server error, per installation (alert UsersapiErrors above 5%).", "percentunit", 8,
			query(`sum by (usersync_instance) (rate(`+APIRequests+apiServerErrSelector+`[$__rate_interval])) / sum by (usersync_instance) (rate(`+APIRequests+apiSelector+`[$__rate_interval]))`, "{{usersync_instance}} 5xx"))).
		WithPanel(series("Requests in flight", "Concurrent requests per pod.", "short", 8,
			query(APIInFlight+apiSelector, "{{usersync_instance}} {{instance}}"))).
		WithPanel(series("Sync triggers by outcome", "POST /sync/*: accepted (a Job was made), conflict (a sync was running), failed, forbidden.", "short", 8,
			query(`sum by (usersync_instance, scope, outcome) (increase(`+APISyncTriggers+apiSelector+`[$__rate_interval]))`, "{{usersync_instance}} {{scope}} {{outcome}}"))).
		WithPanel(series("Kubernetes API latency", "p95 of usersapi's calls to the Kubernetes API (sync on demand), by verb.", "s", 24,
			query(`histogram_quantile(0.95, sum by (usersync_instance, verb, le) (rate(`+APIKubernetesLatency+`_bucket`+apiSelector+`[$__rate_interval])))`, "{{usersync_instance}} {{verb}} p95")))
	d, err := b.Build()
	if err != nil {
		return d, err
	}
	// Grafana links, alerts and embeds address panels by id: give each a
	// unique, stable one in layout order.
	for i := range d.Panels {
		id := uint32(i + 1)
		switch p := &d.Panels[i]; {
		case p.Panel != nil:
			p.Panel.Id = &id
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	return d, nil
}

// JSON returns the dashboard as the chart ships it: indented, with a final
// newline.
func JSON() ([]byte, error) {
	d, err := Build()
	if err != nil {
		return nil, fmt.Errorf("build the dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the dashboard: %w", err)
	}
	return append(out, '\n'), nil
}
