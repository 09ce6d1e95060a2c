package helm

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/kube/kubetest"
)

// quickStart are the values of the quick start, rendered without a cluster.
var quickStart = []string{"-f", "usersync/ci/default-values.yaml"}

// withoutEnv returns a deep copy of a CronJob's jobTemplate without the
// usersync container's env var name.
func withoutEnv(t *testing.T, cj object, name string) any {
	t.Helper()
	if cj == nil {
		t.Fatal("no CronJob")
	}
	tmpl := deepCopy(get(cj, "spec", "jobTemplate"))
	c, ok := get(tmpl, "spec", "template", "spec", "containers", 0).(object)
	if !ok {
		t.Fatalf("CronJob %s has no container", cj.name())
	}
	env, _ := c["env"].([]any)
	c["env"] = slices.DeleteFunc(env, func(e any) bool { return get(e, "name") == name })
	return tmpl
}

// deepCopy copies rendered YAML (maps and lists).
func deepCopy(v any) any {
	switch x := v.(type) {
	case object:
		out := object{}
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// cronJobResourceNames are the CronJobs the API's Role may get.
func cronJobResourceNames(ms manifests) []string {
	rules, _ := get(ms.find("Role", "r-usersync-api"), "rules").([]any)
	for i := range rules {
		if get(rules, i, "resources", 0) == "cronjobs" {
			var names []string
			list, _ := get(rules, i, "resourceNames").([]any)
			for _, n := range list {
				names = append(names, fmt.Sprint(n))
			}
			return names
		}
	}
	return nil
}

// TestIncrementalCronJob: sync.incremental renders a second CronJob whose
// Jobs are the sync CronJob's but for SYNC_INCREMENTAL=true, with a
// schedule, deadline and history of its own; the API learns its name and
// may get it, and nothing changes while it is off.
func TestIncrementalCronJob(t *testing.T) {
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			off := h.mustTemplate(t, nil, quickStart...)
			if off.find("CronJob", "r-usersync-incremental") != nil {
				t.Error("the incremental CronJob renders by default")
			}
			if _, ok := envOf(get(podSpec(off.find("Deployment", "r-usersync-api")), "containers", 0))["SYNC_INCREMENTAL_CRONJOB"]; ok {
				t.Error("SYNC_INCREMENTAL_CRONJOB is set without the incremental CronJob")
			}
			if got := cronJobResourceNames(off); !slices.Equal(got, []string{"r-usersync"}) {
				t.Errorf("the API may get CronJobs %v, want the sync CronJob alone", got)
			}

			on := h.mustTemplate(t, nil, append(quickStart, "--set", "sync.incremental.enabled=true")...)
			full, inc := on.find("CronJob", "r-usersync"), on.find("CronJob", "r-usersync-incremental")
			if inc == nil {
				t.Fatalf("sync.incremental.enabled renders no CronJob r-usersync-incremental: %v", on.kinds())
			}
			for _, c := range []struct {
				path []any
				want any
			}{
				{[]any{"spec", "schedule"}, "2-59/5 * * * *"},
				{[]any{"spec", "timeZone"}, "UTC"},
				{[]any{"spec", "concurrencyPolicy"}, "Forbid"},
				{[]any{"spec", "suspend"}, false},
				{[]any{"spec", "startingDeadlineSeconds"}, 120},
				{[]any{"spec", "successfulJobsHistoryLimit"}, 2},
				{[]any{"spec", "failedJobsHistoryLimit"}, 4},
				{[]any{"metadata", "labels", "app.kubernetes.io/component"}, "sync"},
			} {
				if got := get(inc, c.path...); got != c.want {
					t.Errorf("incremental CronJob %v = %v, want %v", c.path, got, c.want)
				}
			}
			env := envOf(get(podSpec(inc), "containers", 0))
			if env["SYNC_INCREMENTAL"] != "true" || env["SYNC_TRIGGER"] != "schedule" {
				t.Errorf("incremental Jobs: SYNC_INCREMENTAL %q, SYNC_TRIGGER %q; want true and schedule", env["SYNC_INCREMENTAL"], env["SYNC_TRIGGER"])
			}
			if _, ok := envOf(get(podSpec(full), "containers", 0))["SYNC_INCREMENTAL"]; ok {
				t.Error("the sync CronJob's Jobs are incremental too")
			}
			// One template: the Jobs differ in SYNC_INCREMENTAL alone.
			if d := cmp.Diff(withoutEnv(t, full, "SYNC_INCREMENTAL"), withoutEnv(t, inc, "SYNC_INCREMENTAL")); d != "" {
				t.Errorf("the two CronJobs' jobTemplates differ beyond SYNC_INCREMENTAL (-full +incremental):\n%s", d)
			}
			// The sync CronJob is what it was: sync on demand's Jobs come
			// from it alone.
			if d := cmp.Diff(get(off.find("CronJob", "r-usersync"), "spec"), get(full, "spec")); d != "" {
				t.Errorf("sync.incremental changed the sync CronJob (-off +on):\n%s", d)
			}
			apiEnv := envOf(get(podSpec(on.find("Deployment", "r-usersync-api")), "containers", 0))
			if apiEnv["SYNC_INCREMENTAL_CRONJOB"] != "r-usersync-incremental" || apiEnv["SYNC_CRONJOB"] != "r-usersync" {
				t.Errorf("the API's SYNC_CRONJOB %q, SYNC_INCREMENTAL_CRONJOB %q", apiEnv["SYNC_CRONJOB"], apiEnv["SYNC_INCREMENTAL_CRONJOB"])
			}
			if got := cronJobResourceNames(on); !slices.Equal(got, []string{"r-usersync", "r-usersync-incremental"}) {
				t.Errorf("the API may get CronJobs %v, want both by name", got)
			}

			set := h.mustTemplate(t, nil, append(quickStart, "--set", "sync.incremental.enabled=true",
				"--set", "sync.incremental.schedule=*/10 6-22 * * *", "--set", "sync.incremental.startingDeadlineSeconds=60",
				"--set", "sync.incremental.successfulJobsHistoryLimit=1", "--set", "sync.incremental.failedJobsHistoryLimit=2",
				"--set", "sync.timeZone=Europe/Berlin", "--set", "sync.suspend=true", "--set", "sync.lookback=90s",
				"--set", "api.syncOnDemand=false")...)
			inc = set.find("CronJob", "r-usersync-incremental")
			got := fmt.Sprintf("%v|%v|%v|%v|%v|%v", get(inc, "spec", "schedule"), get(inc, "spec", "timeZone"), get(inc, "spec", "startingDeadlineSeconds"),
				get(inc, "spec", "successfulJobsHistoryLimit"), get(inc, "spec", "failedJobsHistoryLimit"), get(inc, "spec", "suspend"))
			if want := "*/10 6-22 * * *|Europe/Berlin|60|1|2|true"; got != want {
				t.Errorf("incremental CronJob from values: %s, want %s", got, want)
			}
			for _, name := range []string{"r-usersync", "r-usersync-incremental"} {
				env := envOf(get(podSpec(set.find("CronJob", name)), "containers", 0))
				if env["SYNC_LOOKBACK"] != "90s" {
					t.Errorf("%s: SYNC_LOOKBACK = %q, want sync.lookback in every incremental run's template", name, env["SYNC_LOOKBACK"])
				}
				if env["SYNC_LOCK_WAIT"] != "10m" {
					t.Errorf("%s: SYNC_LOCK_WAIT = %q, want sync.lockWait's default 10m, so a scheduled full run is not skipped behind an incremental one", name, env["SYNC_LOCK_WAIT"])
				}
			}
			if _, ok := envOf(get(podSpec(set.find("Deployment", "r-usersync-api")), "containers", 0))["SYNC_INCREMENTAL_CRONJOB"]; ok {
				t.Error("api.syncOnDemand=false and the API still gets SYNC_INCREMENTAL_CRONJOB")
			}
		})
	}
}

// TestWebhook: api.webhook gives usersapi a kept, generated secret (or
// one given) as a read-only file and a debounce; the webhook's own Ingress
// routes its path alone, the API's Ingress routes it too, and the
// NetworkPolicy admits webhookFrom; the secret's value appears nowhere but
// in its Secret.
func TestWebhook(t *testing.T) {
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			off := h.mustTemplate(t, nil, quickStart...)
			if off.find("Secret", "r-usersync-webhook") != nil || off.find("Ingress", "r-usersync-webhook") != nil {
				t.Error("a webhook Secret or Ingress renders by default")
			}
			for k := range envOf(get(podSpec(off.find("Deployment", "r-usersync-api")), "containers", 0)) {
				if strings.HasPrefix(k, "WEBHOOK_") {
					t.Errorf("%s is set without api.webhook", k)
				}
			}

			on := h.mustTemplate(t, nil, append(quickStart, "--set", "api.webhook.enabled=true", "--set", "api.webhook.debounce=2s")...)
			sec := on.find("Secret", "r-usersync-webhook")
			secret, _ := get(sec, "stringData", "secret").(string)
			if !regexp.MustCompile(`^[A-Za-z0-9]{48}$`).MatchString(secret) {
				t.Errorf("generated webhook secret %q: want 48 URL-safe characters", secret)
			}
			if get(sec, "metadata", "annotations", "helm.sh/resource-policy") != "keep" {
				t.Error("the webhook Secret is not kept by helm uninstall")
			}
			dep := on.find("Deployment", "r-usersync-api")
			spec := podSpec(dep)
			env := envOf(get(spec, "containers", 0))
			if env["WEBHOOK_SECRET_FILE"] != "/etc/usersync/webhook/secret" || env["WEBHOOK_DEBOUNCE"] != "2s" {
				t.Errorf("WEBHOOK_SECRET_FILE %q, WEBHOOK_DEBOUNCE %q", env["WEBHOOK_SECRET_FILE"], env["WEBHOOK_DEBOUNCE"])
			}
			mounts := fmt.Sprint(get(spec, "containers", 0, "volumeMounts"))
			if !strings.Contains(mounts, "map[mountPath:/etc/usersync/webhook name:webhook-secret readOnly:true]") {
				t.Errorf("volume mounts %s: want the webhook secret's directory, read-only", mounts)
			}
			volumes := fmt.Sprint(get(spec, "volumes"))
			if !strings.Contains(volumes, "map[name:webhook-secret secret:map[items:[map[key:secret path:secret]] secretName:r-usersync-webhook]]") {
				t.Errorf("volumes %s: want the webhook Secret's key as the file secret", volumes)
			}
			for _, o := range on {
				if o.kind() != "Secret" && strings.Contains(fmt.Sprint(o), secret) {
					t.Errorf("%s/%s carries the webhook's secret", o.kind(), o.name())
				}
			}

			given := h.mustTemplate(t, nil, append(quickStart, "--set", "api.webhook.enabled=true",
				"--set", "api.webhook.existingSecret=hooks", "--set", "api.webhook.existingSecretKey=current")...)
			if given.find("Secret", "r-usersync-webhook") != nil {
				t.Error("a webhook Secret renders although one is given")
			}
			if v := fmt.Sprint(get(podSpec(given.find("Deployment", "r-usersync-api")), "volumes")); !strings.Contains(v,
				"secret:map[items:[map[key:current path:secret]] secretName:hooks]") {
				t.Errorf("volumes %s: want api.webhook.existingSecret's key", v)
			}

			// The webhook's own Ingress: its path alone, its own host,
			// class, annotations and TLS; the API's Ingress without a base
			// path adds the route, with one it already has it.
			ingress := append(slices.Clone(quickStart), "--set", "api.webhook.enabled=true", "--set", "api.basePath=/api",
				"--set", "api.webhook.ingress.enabled=true", "--set", "api.webhook.ingress.hosts[0]=hooks.example.com",
				"--set", "api.webhook.ingress.className=public", "--set", "api.webhook.ingress.annotations.a=b",
				"--set", "api.webhook.ingress.tls[0].secretName=hooks-tls", "--set", "api.webhook.ingress.tls[0].hosts[0]=hooks.example.com")
			ms := h.mustTemplate(t, nil, ingress...)
			ing := ms.find("Ingress", "r-usersync-webhook")
			if d := cmp.Diff([]ingressPath{{"/api/webhooks/snipeit", "Prefix"}}, ingressPaths(t, ing, "hooks.example.com"),
				cmp.AllowUnexported(ingressPath{})); d != "" {
				t.Errorf("the webhook Ingress's paths (-want +got):\n%s", d)
			}
			if get(ing, "spec", "ingressClassName") != "public" || get(ing, "metadata", "annotations", "a") != "b" ||
				get(ing, "spec", "tls", 0, "secretName") != "hooks-tls" {
				t.Errorf("the webhook Ingress's class, annotations or TLS are not its values': %v", ing)
			}
			if ms.find("Ingress", "r-usersync-api") != nil {
				t.Error("the webhook's Ingress brought the API's along")
			}
			for _, c := range []struct {
				webhook bool
				base    string
				want    bool
			}{{true, "", true}, {false, "", false}, {true, "/api", true}} {
				args := append(slices.Clone(quickStart), "--set", "api.ingress.enabled=true", "--set", "api.ingress.hosts[0]=users.example.com",
					"--set", fmt.Sprintf("api.webhook.enabled=%v", c.webhook), "--set", "api.basePath="+c.base)
				paths := ingressPaths(t, h.mustTemplate(t, nil, args...).find("Ingress", "r-usersync-api"), "users.example.com")
				if got := routed(paths, c.base+"/webhooks/snipeit/s3cret"); got != c.want {
					t.Errorf("webhook %v, basePath %q: the API's Ingress routes the webhook: %v, want %v (%v)", c.webhook, c.base, got, c.want, paths)
				}
			}

			// The NetworkPolicy: webhookFrom joins apiFrom's peers with the
			// webhook on, and only then.
			np := func(webhook bool) string {
				args := append(slices.Clone(quickStart), "--set", "networkPolicy.enabled=true",
					"--set", "networkPolicy.apiFrom[0].namespaceSelector.matchLabels.team=readers",
					"--set", "networkPolicy.webhookFrom[0].namespaceSelector.matchLabels.team=snipeit",
					"--set", fmt.Sprintf("api.webhook.enabled=%v", webhook))
				return fmt.Sprint(get(h.mustTemplate(t, nil, args...).find("NetworkPolicy", "r-usersync-api"), "spec", "ingress", 0, "from"))
			}
			if from := np(true); !strings.Contains(from, "team:snipeit") || !strings.Contains(from, "team:readers") {
				t.Errorf("with api.webhook the API's NetworkPolicy admits %s; want apiFrom and webhookFrom", from)
			}
			if from := np(false); strings.Contains(from, "team:snipeit") {
				t.Errorf("without api.webhook the API's NetworkPolicy admits webhookFrom: %s", from)
			}
		})
	}
}

// TestFreshnessValuesRefused: the schema and the chart refuse what cannot
// work, saying what to set.
func TestFreshnessValuesRefused(t *testing.T) {
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			for _, c := range []struct {
				args []string
				want []string
			}{
				{[]string{"--set", "api.webhook.enabled=true", "--set", "api.syncOnDemand=false"}, []string{"api.webhook.enabled needs api.syncOnDemand=true"}},
				{[]string{"--set", "api.webhook.ingress.enabled=true", "--set", "api.webhook.ingress.hosts[0]=h"}, []string{"api.webhook.ingress.enabled needs api.webhook.enabled=true"}},
				{[]string{"--set", "api.webhook.enabled=true", "--set", "api.webhook.ingress.enabled=true"}, []string{"api.webhook.ingress.hosts needs at least one host"}},
				// A generated webhook secret needs a render that reads the
				// cluster, like the others.
				{[]string{"--set", "secrets.generateWithoutCluster=false", "--set", "postgresql.existingSecret=pg",
					"--set", "api.tokens.existingSecret=tokens", "--set", "api.webhook.enabled=true"},
					[]string{"this render cannot read the cluster", "Set api.webhook.existingSecret (the webhook's secret), render"}},
				{[]string{"--set", "api.webhook.debounce=5 seconds"}, []string{"schema", "debounce"}},
				{[]string{"--set", "sync.lookback=a while"}, []string{"schema", "lookback"}},
				{[]string{"--set", "sync.lockWait="}, []string{"schema", "lockWait"}},
				{[]string{"--set", "sync.incremental.concurrencyPolicy=Allow"}, []string{"schema", "concurrencyPolicy"}},
				{[]string{"--set", "sync.incremental.enabled=yes"}, []string{"schema", "enabled"}},
				{[]string{"--set", "api.webhook.ingress.docs=true"}, []string{"schema", "docs"}},
				{[]string{"--set", "metrics.prometheusRule.disabled[0]=UsersyncFallingBack"}, []string{"schema", "UsersyncFallingBack"}},
			} {
				_, err := h.template(t, nil, append(slices.Clone(quickStart), c.args...)...)
				for _, w := range c.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("%v: %v, want an error saying %q", c.args, err, w)
					}
				}
			}
			for _, args := range [][]string{
				{"--set", "sync.lookback=1m30s", "--set", "api.webhook.enabled=true", "--set", "api.webhook.debounce=500ms"},
				{"--set", "metrics.prometheusRule.disabled[0]=UsersyncIncrementalFallingBack"},
				{"--set", "secrets.generateWithoutCluster=false", "--set", "postgresql.existingSecret=pg", "--set", "api.tokens.existingSecret=tokens",
					"--set", "api.webhook.enabled=true", "--set", "api.webhook.existingSecret=hooks"},
			} {
				if _, err := h.template(t, nil, append(slices.Clone(quickStart), args...)...); err != nil {
					t.Errorf("%v: %v", args, err)
				}
			}
		})
	}
}

// TestNotesFreshness: NOTES name the incremental CronJob, and print the
// command that prints the webhook's URL — never the secret itself — with
// the Snipe-IT setting to paste it into (helm install --dry-run=server on
// the real API server).
func TestNotesFreshness(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "notes-freshness")
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			h.kubeconfig = cp.KubeconfigPath()
			install := []string{"install", "r", chartDir, "--namespace", ns, "--dry-run=server", "-f", "usersync/ci/default-values.yaml",
				"--set", "api.basePath=/api/"}
			out, err := h.run(t, install...)
			if err != nil {
				t.Fatal(err)
			}
			for _, unwanted := range []string{"r-usersync-incremental", "webhook"} {
				if strings.Contains(notes(out), unwanted) {
					t.Errorf("NOTES mention %q without the values that make it:\n%s", unwanted, notes(out))
				}
			}
			out, err = h.run(t, append(install, "--set", "sync.incremental.enabled=true", "--set", "api.webhook.enabled=true",
				"--set", "api.webhook.ingress.enabled=true", "--set", "api.webhook.ingress.hosts[0]=hooks.example.com",
				"--set", "api.webhook.ingress.tls[0].secretName=hooks-tls")...)
			if err != nil {
				t.Fatal(err)
			}
			n := notes(out)
			for _, want := range []string{
				`Incremental syncs (changes since the last run) run on "2-59/5 * * * *" from CronJob r-usersync-incremental`,
				`echo "https://hooks.example.com/api/webhooks/snipeit/$(kubectl -n ` + ns + ` get secret r-usersync-webhook -o jsonpath='{.data.secret}' | base64 -d | head -n 1)"`,
				`Admin > Settings > Integrations, "General Webhook"`,
			} {
				if !strings.Contains(n, want) {
					t.Errorf("NOTES do not say %s:\n%s", want, n)
				}
			}
			secret := regexp.MustCompile(`(?m)^  secret: "([A-Za-z0-9]{48})"$`).FindStringSubmatch(out)
			if secret == nil {
				t.Fatalf("no generated webhook secret in the dry run's manifest:\n%s", out)
			}
			if strings.Contains(n, secret[1]) {
				t.Error("NOTES print the webhook's secret")
			}
		})
	}
}
