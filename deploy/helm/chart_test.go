package helm

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLintAndTemplate lints and renders the chart with every ci values
// file, with Helm 3 and Helm 4, and checks what every render must hold.
func TestLintAndTemplate(t *testing.T) {
	for _, h := range helms(t) {
		for _, values := range ciValues(t) {
			t.Run(h.name+"/"+filepath.Base(values), func(t *testing.T) {
				t.Parallel()
				if _, err := h.run(t, "lint", "--strict", chartDir, "-f", values, "--kube-version", kubeVersion); err != nil {
					t.Fatal(err)
				}
				ms := h.mustTemplate(t, monitoringAPIs, "-f", values)
				checkRender(t, ms)
			})
		}
	}
}

// checkRender holds for any values: names fit, every object is labelled,
// every pod is hardened, the CronJob is what POST /sync/* relies on.
func checkRender(t *testing.T, ms manifests) {
	t.Helper()
	if ms.find("CronJob", "r-usersync") == nil || ms.find("Deployment", "r-usersync-api") == nil {
		t.Fatalf("no CronJob r-usersync or Deployment r-usersync-api in %v", ms.kinds())
	}
	for _, o := range ms {
		if n := o.name(); len(n) > 63 || n == "" {
			t.Errorf("%s: name %q is empty or longer than 63", o.kind(), n)
		}
		if get(o, "metadata", "namespace") != "ns" {
			t.Errorf("%s/%s: namespace %v, want the release's", o.kind(), o.name(), get(o, "metadata", "namespace"))
		}
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
			if get(o, "metadata", "labels", l) == nil {
				t.Errorf("%s/%s: no label %s", o.kind(), o.name(), l)
			}
		}
		if spec := podSpec(o); spec != nil {
			checkHardened(t, o.kind()+"/"+o.name(), spec)
		}
	}
}

// podSpec returns the pod spec an object runs, or nil.
func podSpec(o object) any {
	var v any
	switch o.kind() {
	case "Pod":
		v = get(o, "spec")
	case "Deployment", "StatefulSet", "Job":
		v = get(o, "spec", "template", "spec")
	case "CronJob":
		v = get(o, "spec", "jobTemplate", "spec", "template", "spec")
	}
	return v
}

// checkHardened checks what the restricted Pod Security Standard asks, as
// rendered (the cluster test has the API server check it too), plus
// resources and no needless service-account token.
func checkHardened(t *testing.T, what string, spec any) {
	t.Helper()
	if get(spec, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", what)
	}
	if get(spec, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile is not RuntimeDefault", what)
	}
	if !strings.HasSuffix(what, "-api") && get(spec, "automountServiceAccountToken") != false {
		t.Errorf("%s: mounts a service-account token it does not need", what)
	}
	containers, _ := get(spec, "containers").([]any)
	for i := range containers {
		c := get(spec, "containers", i)
		name := fmt.Sprintf("%s container %v", what, get(c, "name"))
		for _, want := range []struct {
			path []any
			want any
		}{
			{[]any{"securityContext", "allowPrivilegeEscalation"}, false},
			{[]any{"securityContext", "readOnlyRootFilesystem"}, true},
			{[]any{"securityContext", "capabilities", "drop", 0}, "ALL"},
		} {
			if got := get(c, want.path...); got != want.want {
				t.Errorf("%s: %v = %v, want %v", name, want.path, got, want.want)
			}
		}
		if get(c, "resources", "requests", "memory") == nil || get(c, "resources", "limits", "memory") == nil {
			t.Errorf("%s: no memory request and limit", name)
		}
	}
}

// TestSchemaRejectsUnknownKeys: a misspelt key, at any depth, fails the
// install instead of being silently ignored.
func TestSchemaRejectsUnknownKeys(t *testing.T) {
	base := []string{"--set", "snipeit.url=https://snipe.example.com", "--set", "snipeit.token=x"}
	for _, h := range helms(t) {
		if _, err := h.template(t, nil, base...); err != nil {
			t.Fatalf("%s: the base values do not render: %v", h.name, err)
		}
		for _, bad := range []struct{ set, key string }{
			{"imagee.tag=1", "imagee"},
			{"api.replica=3", "replica"},
			{"api.ingress.host=x", "host"},
			{"sync.resources.limit.memory=1Gi", "limit"},
			{"containerSecurityContext.readOnlyRootFileSystem=true", "readOnlyRootFileSystem"},
			{"metrics.prometheusRule.disabled[0]=UsersyncStale", "UsersyncStale"},
			{"api.replicas=two", "replicas"},
		} {
			t.Run(h.name+"/"+bad.set, func(t *testing.T) {
				t.Parallel()
				_, err := h.template(t, nil, append(base, "--set", bad.set)...)
				if err == nil {
					t.Fatalf("--set %s rendered; want a schema error", bad.set)
				}
				if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), bad.key) {
					t.Fatalf("--set %s: the error does not name the schema and %q:\n%v", bad.set, bad.key, err)
				}
			})
		}
	}
}

// TestRequiredValues: an install without Snipe-IT or a database says what
// to set.
func TestRequiredValues(t *testing.T) {
	h := helms(t)[0]
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "snipeit.url is required"},
		{[]string{"--set", "snipeit.url=https://s"}, "a Snipe-IT token is required"},
		{[]string{"--set", "snipeit.url=https://s", "--set", "snipeit.token=x", "--set", "postgresql.enabled=false"}, "a database is required"},
		{[]string{"--set", "snipeit.url=https://s", "--set", "snipeit.token=x", "--set", "api.ingress.enabled=true"}, "api.ingress.hosts"},
		{[]string{"--set", "snipeit.url=https://s", "--set", "snipeit.token=x", "--set", "api.shutdownTimeoutSeconds=40"}, "must be longer than api.shutdownTimeoutSeconds"},
		{[]string{"--set", "snipeit.url=https://s", "--set", "snipeit.token=x", "--set", "api.shutdownDelaySeconds=24"}, "leaves no time to drain"},
	} {
		_, err := h.template(t, nil, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

// TestRenderShapes checks what each shape of values turns on and off.
func TestRenderShapes(t *testing.T) {
	h := helms(t)[0]
	quick := []string{"-f", "usersync/ci/default-values.yaml"}
	external := []string{"-f", "usersync/ci/external-database-values.yaml"}

	t.Run("the quick start bundles PostgreSQL and migrates after it exists", func(t *testing.T) {
		ms := h.mustTemplate(t, nil, quick...)
		if ms.find("StatefulSet", "r-usersync-postgresql") == nil || ms.find("Service", "r-usersync-postgresql") == nil {
			t.Fatalf("no bundled PostgreSQL in %v", ms.kinds())
		}
		job := ms.find("Job", "r-usersync-migrate")
		if got := get(job, "metadata", "annotations", "helm.sh/hook"); got != "post-install,pre-upgrade" {
			t.Errorf("migration hook = %v, want post-install,pre-upgrade (the database is part of the release)", got)
		}
		url, _ := get(ms.find("Secret", "r-usersync-database"), "stringData", "url").(string)
		pw, _ := get(ms.find("Secret", "r-usersync-database"), "stringData", "postgres-password").(string)
		if len(pw) < 32 || !strings.Contains(url, ":"+pw+"@r-usersync-postgresql.ns.svc:5432/usersync") {
			t.Errorf("database URL %q does not carry the generated password %q and the Service", url, pw)
		}
		if ms.find("PodDisruptionBudget", "r-usersync-api") == nil {
			t.Error("2 replicas and no PodDisruptionBudget")
		}
		if ms.find("ConfigMap", "r-usersync-dashboard") == nil {
			t.Error("no dashboard ConfigMap")
		}
		if get(ms.find("ConfigMap", "r-usersync-dashboard"), "metadata", "labels", "grafana_dashboard") != "1" {
			t.Error("the dashboard ConfigMap is not labelled grafana_dashboard: \"1\"")
		}
	})

	t.Run("an external database migrates before install with a hook-owned secret", func(t *testing.T) {
		ms := h.mustTemplate(t, nil, external...)
		if ms.find("StatefulSet", "r-usersync-postgresql") != nil {
			t.Error("externalDatabase.url is set and the bundled PostgreSQL still renders")
		}
		job := ms.find("Job", "r-usersync-migrate")
		if got := get(job, "metadata", "annotations", "helm.sh/hook"); got != "pre-install,pre-upgrade" {
			t.Errorf("migration hook = %v, want pre-install,pre-upgrade", got)
		}
		sec := ms.find("Secret", "r-usersync-migrate")
		if get(sec, "metadata", "annotations", "helm.sh/hook") != "pre-install,pre-upgrade" ||
			get(sec, "stringData", "url") != "postgres://usersync:secret@db.example.com:5432/usersync?sslmode=require" {
			t.Errorf("the hook's database secret is missing or wrong: %v", sec)
		}
		if ref := get(podSpec(job), "containers", 0, "env", 0, "valueFrom", "secretKeyRef", "name"); ref != "r-usersync-migrate" {
			t.Errorf("the hook reads DATABASE_URL from %v, want its own secret", ref)
		}
		if ms.find("PodDisruptionBudget", "r-usersync-api") != nil {
			t.Error("1 replica and a PodDisruptionBudget: it would block every node drain")
		}
		if ms.find("Role", "r-usersync-api") != nil {
			t.Error("api.syncOnDemand=false and still a Role")
		}
		if get(podSpec(ms.find("Deployment", "r-usersync-api")), "automountServiceAccountToken") != false {
			t.Error("api.syncOnDemand=false and the API still mounts a token")
		}
		cj := ms.find("CronJob", "r-usersync")
		if get(cj, "spec", "timeZone") != "Europe/Berlin" || get(cj, "spec", "schedule") != "30 6 * * 1-5" {
			t.Errorf("schedule and time zone not from values: %v %v", get(cj, "spec", "schedule"), get(cj, "spec", "timeZone"))
		}
	})

	t.Run("existing secrets: the chart makes none", func(t *testing.T) {
		ms := h.mustTemplate(t, nil, "-f", "usersync/ci/existing-secrets-values.yaml")
		for _, o := range ms {
			if o.kind() == "Secret" {
				t.Errorf("Secret %s rendered; every secret is given", o.name())
			}
		}
		spec := podSpec(ms.find("CronJob", "r-usersync"))
		if got := get(spec, "volumes", 0, "secret"); fmt.Sprint(got) != "map[items:[map[key:api-token path:token]] secretName:snipeit]" {
			t.Errorf("Snipe-IT token volume = %v", got)
		}
		if got := get(podSpec(ms.find("Deployment", "r-usersync-api")), "containers", 0, "image"); got != "ghcr.io/usersync/usersync@sha256:0000000000000000000000000000000000000000000000000000000000000000" {
			t.Errorf("image = %v, want the digest", got)
		}
	})

	t.Run("the CronJob is what POST /sync/* and kubectl create job rely on", func(t *testing.T) {
		ms := h.mustTemplate(t, nil, quick...)
		cj := ms.find("CronJob", "r-usersync")
		for _, c := range []struct {
			path []any
			want any
		}{
			{[]any{"spec", "schedule"}, "0 8,12,16,20 * * *"},
			{[]any{"spec", "timeZone"}, "UTC"},
			{[]any{"spec", "concurrencyPolicy"}, "Forbid"},
			{[]any{"spec", "startingDeadlineSeconds"}, 600},
			{[]any{"spec", "jobTemplate", "spec", "backoffLimit"}, 1},
			{[]any{"spec", "jobTemplate", "spec", "activeDeadlineSeconds"}, 3600},
			{[]any{"spec", "jobTemplate", "spec", "ttlSecondsAfterFinished"}, 604800},
			{[]any{"spec", "jobTemplate", "spec", "template", "spec", "automountServiceAccountToken"}, false},
			{[]any{"spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "name"}, "usersync"},
			{[]any{"spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "args", 0}, "--full"},
		} {
			if got := get(cj, c.path...); got != c.want {
				t.Errorf("CronJob %v = %v, want %v", c.path, got, c.want)
			}
		}
		env := envOf(get(podSpec(cj), "containers", 0))
		if env["SYNC_TRIGGER"] != "schedule" {
			t.Errorf("SYNC_TRIGGER = %q", env["SYNC_TRIGGER"])
		}
		if env["JOB_NAME"] != "fieldRef:metadata.labels['batch.kubernetes.io/job-name']" {
			t.Errorf("JOB_NAME = %q, want the downward API", env["JOB_NAME"])
		}
		if env["DATABASE_URL"] != "secretKeyRef:r-usersync-database/url" {
			t.Errorf("DATABASE_URL = %q, want a secret reference", env["DATABASE_URL"])
		}
		api := podSpec(ms.find("Deployment", "r-usersync-api"))
		apiEnv := envOf(get(api, "containers", 0))
		if apiEnv["SHUTDOWN_DELAY"] != "5s" || apiEnv["SHUTDOWN_TIMEOUT"] != "25s" || get(api, "terminationGracePeriodSeconds") != 30 {
			t.Errorf("shutdown: delay %q, timeout %q, grace %v; want 5s, 25s and a longer grace period",
				apiEnv["SHUTDOWN_DELAY"], apiEnv["SHUTDOWN_TIMEOUT"], get(api, "terminationGracePeriodSeconds"))
		}
	})

	t.Run("monitoring objects need both the value and the CRD", func(t *testing.T) {
		mon := []string{"-f", "usersync/ci/monitoring-values.yaml"}
		if ms := h.mustTemplate(t, nil, mon...); ms.find("ServiceMonitor", "r-usersync-api") != nil || ms.find("PrometheusRule", "r-usersync") != nil {
			t.Error("ServiceMonitor or PrometheusRule rendered for a cluster without the CRDs")
		}
		ms := h.mustTemplate(t, monitoringAPIs, mon...)
		if ms.find("ServiceMonitor", "r-usersync-api") == nil {
			t.Error("no ServiceMonitor with the CRD present")
		}
		rule := ms.find("PrometheusRule", "r-usersync")
		var alerts []string
		var staleExpr string
		groups, _ := get(rule, "spec", "groups").([]any)
		for gi := range groups {
			rules, _ := get(groups, gi, "rules").([]any)
			for ri := range rules {
				name, _ := get(rules, ri, "alert").(string)
				alerts = append(alerts, name)
				if name == "UsersyncSyncStale" {
					staleExpr, _ = get(rules, ri, "expr").(string)
				}
			}
		}
		slices.Sort(alerts)
		if want := []string{"UsersapiDown", "UsersapiErrors", "UsersyncSyncFailing", "UsersyncSyncStale"}; !slices.Equal(alerts, want) {
			t.Errorf("alerts = %v, want %v (UsersyncMetricsMissing disabled)", alerts, want)
		}
		if !strings.HasSuffix(staleExpr, "> 90000") {
			t.Errorf("stale expr = %q, want the threshold from values", staleExpr)
		}
		if ms := h.mustTemplate(t, monitoringAPIs, quick...); ms.find("ServiceMonitor", "r-usersync-api") != nil {
			t.Error("ServiceMonitor rendered without metrics.serviceMonitor.enabled")
		}
	})

	t.Run("installations sharing a Pushgateway push under their own instance", func(t *testing.T) {
		push := []string{"-f", "usersync/ci/default-values.yaml", "--set", "metrics.pushgatewayURL=http://pushgateway:9091"}
		for _, c := range []struct {
			name string
			args []string
			want string // PUSHGATEWAY_INSTANCE; "" for none
		}{
			{"by default <namespace>/<release>", push, "ns/r"},
			{"a value of its own", append(push, "--set", "metrics.pushgatewayInstance=site-b"), "site-b"},
			{"a template", append(push, "--set", "metrics.pushgatewayInstance=prod-{{ .Release.Name }}"), "prod-r"},
			{"empty: pushes grouped by job and scope only", append(push, "--set", "metrics.pushgatewayInstance="), ""},
			{"nothing without a Pushgateway", quick, ""},
		} {
			env := envOf(get(podSpec(h.mustTemplate(t, nil, c.args...).find("CronJob", "r-usersync")), "containers", 0))
			if got, ok := env["PUSHGATEWAY_INSTANCE"]; got != c.want || ok != (c.want != "") {
				t.Errorf("%s: PUSHGATEWAY_INSTANCE = %q (set %v), want %q", c.name, got, ok, c.want)
			}
		}
	})

	t.Run("ingress under BASE_PATH", func(t *testing.T) {
		ms := h.mustTemplate(t, nil, "-f", "usersync/ci/ingress-values.yaml")
		ing := ms.find("Ingress", "r-usersync-api")
		if get(ing, "spec", "rules", 0, "http", "paths", 0, "path") != "/api" || get(ing, "spec", "ingressClassName") != "nginx" ||
			get(ing, "spec", "tls", 0, "secretName") != "users-example-com-tls" {
			t.Errorf("Ingress = %v", ing["spec"])
		}
		if env := envOf(get(podSpec(ms.find("Deployment", "r-usersync-api")), "containers", 0)); env["BASE_PATH"] != "/api" {
			t.Errorf("BASE_PATH = %q", env["BASE_PATH"])
		}
		for _, np := range []string{"r-usersync-api", "r-usersync-sync"} {
			if ms.find("NetworkPolicy", np) == nil {
				t.Errorf("no NetworkPolicy %s", np)
			}
		}
	})
}

// envOf flattens a container's env: a value as itself, a reference as
// "secretKeyRef:name/key" or "fieldRef:path".
func envOf(c any) map[string]string {
	out := map[string]string{}
	list, _ := get(c, "env").([]any)
	for i := range list {
		e := get(list, i)
		name, _ := get(e, "name").(string)
		switch {
		case get(e, "valueFrom", "secretKeyRef") != nil:
			out[name] = fmt.Sprintf("secretKeyRef:%v/%v", get(e, "valueFrom", "secretKeyRef", "name"), get(e, "valueFrom", "secretKeyRef", "key"))
		case get(e, "valueFrom", "fieldRef") != nil:
			out[name] = fmt.Sprintf("fieldRef:%v", get(e, "valueFrom", "fieldRef", "fieldPath"))
		default:
			out[name] = fmt.Sprint(get(e, "value"))
		}
	}
	return out
}
