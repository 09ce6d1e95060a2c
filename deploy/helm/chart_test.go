package helm

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/kube/kubetest"
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
		if clusterScoped[o.kind()] {
			// Named per installation, so that two coexist.
			if !strings.Contains(o.name(), ".ns.") || get(o, "metadata", "namespace") != nil {
				t.Errorf("%s/%s: a cluster-scoped object not named after the release's namespace", o.kind(), o.name())
			}
		} else if get(o, "metadata", "namespace") != "ns" {
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

// clusterScoped are the kinds the chart renders outside the release's
// namespace.
var clusterScoped = map[string]bool{"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true}

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
	base := []string{"--set", "snipeit.url=https://snipe.example.com", "--set", "snipeit.token=x", "--set", "secrets.generateWithoutCluster=true"}
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
			{"api.jobPolicy=sometimes", "jobPolicy"},
			{"externalDatabase.url=mysql://db/x", "url"},
			{"externalDatabase.url=db.example.com", "url"},
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

// TestRequiredValues: values the schema cannot judge fail the render with
// what to set (all of them in templates/_validate.tpl).
func TestRequiredValues(t *testing.T) {
	h := helms(t)[0]
	ok := []string{"--set", "snipeit.url=https://s", "--set", "snipeit.token=x", "--set", "secrets.generateWithoutCluster=true"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "snipeit.url is required"},
		{[]string{"--set", "snipeit.url=https://s"}, "a Snipe-IT token is required"},
		{append(ok, "--set", "postgresql.enabled=false"), "a database is required"},
		{append(ok, "--set", "api.ingress.enabled=true"), "api.ingress.hosts"},
		{append(ok, "--set", "api.shutdownTimeoutSeconds=40"), "must be longer than api.shutdownTimeoutSeconds"},
		{append(ok, "--set", "api.shutdownDelaySeconds=24"), "leaves no time to drain"},
		{append(ok, "--set", "databaseWaitSeconds=600"), "migration.activeDeadlineSeconds must be longer than databaseWaitSeconds"},
		{append(ok, "--set", "databaseWaitSeconds=500", "--set", "sync.activeDeadlineSeconds=400"), "sync.activeDeadlineSeconds must be longer than databaseWaitSeconds"},
		{append(ok, "--set", "sync.args={--scope,users}"), "write the scope as one argument, --scope=users"},
		{append(ok, "--set", "api.autoscaling.enabled=true", "--set", "api.autoscaling.minReplicas=4", "--set", "api.autoscaling.maxReplicas=3"), "minReplicas must not exceed"},
	} {
		_, err := h.template(t, nil, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
	// The one-argument scope is fine, and so are two arguments when no Job
	// policy needs to read them.
	for _, args := range [][]string{
		append(ok, "--set", "sync.args={--scope=users}"),
		append(ok, "--set", "sync.args={--scope,users}", "--set", "api.syncOnDemand=false"),
	} {
		if _, err := h.template(t, nil, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestRendersWithoutClusterAccess: helm template (as Argo CD runs it) cannot
// read back the secrets the chart generated; it refuses, naming the values
// that avoid generating, rather than make new ones on every render — unless
// told to, or given existing secrets.
func TestRendersWithoutClusterAccess(t *testing.T) {
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			snipe := []string{"--set", "snipeit.url=https://s", "--set", "snipeit.existingSecret=snipeit"}
			_, err := h.template(t, nil, snipe...)
			for _, want := range []string{"this render cannot read the cluster", "postgresql.existingSecret", "api.tokens.existingSecret", "secrets.generateWithoutCluster=true"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("helm template with generated secrets: %v, want a refusal saying %q", err, want)
				}
			}
			_, err = h.template(t, nil, append(snipe, "--set", "externalDatabase.existingSecret=db")...)
			if err == nil || strings.Contains(err.Error(), "postgresql.existingSecret") || !strings.Contains(err.Error(), "api.tokens.existingSecret") {
				t.Errorf("with an external database: %v, want a refusal naming the tokens alone", err)
			}
			// Everything by reference: a GitOps render, stable across renders.
			gitops := append(snipe, "--set", "postgresql.existingSecret=pg", "--set", "api.tokens.existingSecret=tokens")
			first := h.mustTemplate(t, nil, gitops...)
			second := h.mustTemplate(t, nil, gitops...)
			if d := cmp.Diff(first, second); d != "" {
				t.Errorf("two renders of the same values differ:\n%s", d)
			}
			for _, o := range first {
				if o.kind() == "Secret" {
					t.Errorf("Secret %s rendered; every secret is given", o.name())
				}
			}
			env := envOf(get(podSpec(first.find("CronJob", "r-usersync")), "containers", 0))
			if env["PGPASSWORD"] != "secretKeyRef:pg/postgres-password" {
				t.Errorf("PGPASSWORD = %q, want postgresql.existingSecret's key", env["PGPASSWORD"])
			}
			if pw := envOf(get(podSpec(first.find("StatefulSet", "r-usersync-postgresql")), "containers", 0))["POSTGRES_PASSWORD"]; pw != "secretKeyRef:pg/postgres-password" {
				t.Errorf("POSTGRES_PASSWORD = %q, want postgresql.existingSecret's key", pw)
			}
			// The explicit opt-in generates (new values each time).
			ms := h.mustTemplate(t, nil, append(snipe, "--set", "secrets.generateWithoutCluster=true")...)
			for _, name := range []string{"r-usersync-database", "r-usersync-api-tokens"} {
				if get(ms.find("Secret", name), "metadata", "annotations", "helm.sh/resource-policy") != "keep" {
					t.Errorf("generated Secret %s is not kept by helm uninstall (helm.sh/resource-policy: keep)", name)
				}
			}
		})
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
		pw, _ := get(ms.find("Secret", "r-usersync-database"), "stringData", "postgres-password").(string)
		if len(pw) < 32 {
			t.Errorf("generated password %q is short", pw)
		}
		for _, o := range []object{ms.find("CronJob", "r-usersync"), ms.find("Deployment", "r-usersync-api"), job} {
			env := envOf(get(podSpec(o), "containers", 0))
			if env["DATABASE_URL"] != "postgres://usersync@r-usersync-postgresql.ns.svc:5432/usersync?sslmode=disable" ||
				env["PGPASSWORD"] != "secretKeyRef:r-usersync-database/postgres-password" {
				t.Errorf("%s/%s: DATABASE_URL %q, PGPASSWORD %q; want the Service's URL, and the password from its Secret",
					o.kind(), o.name(), env["DATABASE_URL"], env["PGPASSWORD"])
			}
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
		if env["PGPASSWORD"] != "secretKeyRef:r-usersync-database/postgres-password" || strings.Contains(env["DATABASE_URL"], "@r-usersync-postgresql") == false {
			t.Errorf("DATABASE_URL = %q, PGPASSWORD = %q; want the password by secret reference", env["DATABASE_URL"], env["PGPASSWORD"])
		}
		if env["DATABASE_WAIT"] != "300s" || envOf(get(podSpec(ms.find("Job", "r-usersync-migrate")), "containers", 0))["DATABASE_WAIT"] != "300s" {
			t.Errorf("DATABASE_WAIT = %q in the CronJob; want databaseWaitSeconds in it and in the migration hook", env["DATABASE_WAIT"])
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
		if want := []string{"UsersapiDown", "UsersapiErrors", "UsersyncIncrementalFallingBack", "UsersyncSyncFailing", "UsersyncSyncStale"}; !slices.Equal(alerts, want) {
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

// TestSyncOnDemandOff: api.syncOnDemand=false leaves the API's
// ServiceAccount with no right at all — no Role, RoleBinding, Lease or Job
// policy, no mounted token — whatever api.jobPolicy says.
func TestSyncOnDemandOff(t *testing.T) {
	h := helms(t)[0]
	ms := h.mustTemplate(t, nil, "-f", "usersync/ci/default-values.yaml", "--set", "api.syncOnDemand=false", "--set", "api.jobPolicy=always")
	for _, kind := range []string{"Role", "RoleBinding", "Lease", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		for _, o := range ms {
			if o.kind() == kind {
				t.Errorf("api.syncOnDemand=false renders %s/%s", kind, o.name())
			}
		}
	}
	if get(podSpec(ms.find("Deployment", "r-usersync-api")), "automountServiceAccountToken") != false {
		t.Error("api.syncOnDemand=false and the API still mounts a token")
	}
	if ms.find("ServiceAccount", "r-usersync-api") == nil {
		t.Error("no ServiceAccount for the API")
	}
	on := h.mustTemplate(t, nil, "-f", "usersync/ci/default-values.yaml", "--set", "api.jobPolicy=always")
	if on.find("ValidatingAdmissionPolicy", "r-usersync.ns.usersync.io") == nil || on.find("ValidatingAdmissionPolicyBinding", "r-usersync.ns.usersync.io") == nil {
		t.Errorf("api.jobPolicy=always renders no policy and binding: %v", on.kinds())
	}
	if p := h.mustTemplate(t, nil, "-f", "usersync/ci/default-values.yaml"); p.find("ValidatingAdmissionPolicy", "r-usersync.ns.usersync.io") != nil {
		t.Error("api.jobPolicy=auto rendered the policy for a cluster that does not serve it")
	}
	withAPI := h.mustTemplate(t, []string{"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"}, "-f", "usersync/ci/default-values.yaml")
	if withAPI.find("ValidatingAdmissionPolicy", "r-usersync.ns.usersync.io") == nil {
		t.Error("api.jobPolicy=auto rendered no policy for a cluster that serves it")
	}
	never := h.mustTemplate(t, []string{"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"}, "-f", "usersync/ci/default-values.yaml", "--set", "api.jobPolicy=never")
	if never.find("ValidatingAdmissionPolicy", "r-usersync.ns.usersync.io") != nil {
		t.Error("api.jobPolicy=never rendered the policy")
	}
}

// TestJobPolicyMatchesOnlyTheLaunchersJobs: the binding whose parameter is
// the CronJob — denying whatever it matches while the API server misses
// that CronJob — matches only Jobs labelled usersync.io/trigger in the
// release's namespace, a label no Job the chart declares carries (the
// CronJobs' templates, the migration hook); a second policy, without a
// parameter, denies the API's ServiceAccount any Job without that label;
// all four objects outlive helm uninstall and carry a label naming the
// installation, to find them by; commonLabels cannot take the chart's
// usersync.io/ keys.
func TestJobPolicyMatchesOnlyTheLaunchersJobs(t *testing.T) {
	h := helms(t)[0]
	ms := h.mustTemplate(t, nil, "-f", "usersync/ci/default-values.yaml", "--set", "api.jobPolicy=always",
		"--set", "sync.incremental.enabled=true", "--set", "api.webhook.enabled=true", "--set", "commonLabels.team=it")
	const param, label = "r-usersync.ns.usersync.io", "r-usersync.ns.trigger.usersync.io"
	var policies []object
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		for _, name := range []string{param, label} {
			o := ms.find(kind, name)
			if o == nil {
				t.Fatalf("no %s %s: %v", kind, name, ms.kinds())
			}
			policies = append(policies, o)
			if get(o, "metadata", "annotations", "helm.sh/resource-policy") != "keep" {
				t.Errorf("%s %s is not kept by helm uninstall (helm.sh/resource-policy: keep)", kind, name)
			}
			if get(o, "metadata", "labels", "usersync.io/release-namespace") != "ns" || get(o, "metadata", "labels", "app.kubernetes.io/instance") != "r" {
				t.Errorf("%s %s labels %v: want the release's and usersync.io/release-namespace: ns", kind, name, get(o, "metadata", "labels"))
			}
			if get(o, "spec", "matchResources", "namespaceSelector") != nil &&
				get(o, "spec", "matchResources", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") != "ns" {
				t.Errorf("%s %s matches namespaces %v, want the release's", kind, name, get(o, "spec", "matchResources", "namespaceSelector"))
			}
		}
	}
	paramPolicy, labelPolicy, paramBinding, labelBinding := policies[0], policies[1], policies[2], policies[3]

	if sel := get(paramBinding, "spec", "matchResources", "objectSelector"); fmt.Sprint(sel) !=
		"map[matchExpressions:[map[key:usersync.io/trigger operator:Exists]] matchLabels:map[app.kubernetes.io/instance:r]]" {
		t.Errorf("the CronJob-parameter binding's objectSelector = %v, want usersync.io/trigger and this release's Jobs alone", sel)
	}
	if get(paramBinding, "spec", "paramRef", "name") != "r-usersync" || get(paramBinding, "spec", "paramRef", "parameterNotFoundAction") != "Deny" {
		t.Errorf("the CronJob-parameter binding's paramRef = %v", get(paramBinding, "spec", "paramRef"))
	}
	if get(labelPolicy, "spec", "paramKind") != nil || get(labelBinding, "spec", "paramRef") != nil ||
		get(labelBinding, "spec", "matchResources", "objectSelector") != nil || get(labelBinding, "spec", "matchResources", "namespaceSelector") == nil {
		t.Errorf("the label policy: paramKind %v, binding %v; want no parameter and every Job of the namespace",
			get(labelPolicy, "spec", "paramKind"), get(labelBinding, "spec"))
	}
	if get(labelPolicy, "spec", "failurePolicy") != "Fail" || get(labelBinding, "spec", "policyName") != label {
		t.Errorf("the label policy: failurePolicy %v, bound policy %v", get(labelPolicy, "spec", "failurePolicy"), get(labelBinding, "spec", "policyName"))
	}
	who := get(paramPolicy, "spec", "matchConditions", 0, "expression")
	if who != "request.userInfo.username == 'system:serviceaccount:ns:r-usersync-api'" || get(labelPolicy, "spec", "matchConditions", 0, "expression") != who {
		t.Errorf("match conditions: %v and %v, want both on the API's ServiceAccount", who, get(labelPolicy, "spec", "matchConditions", 0, "expression"))
	}
	if e, _ := get(labelPolicy, "spec", "validations", 0, "expression").(string); e !=
		"'usersync.io/trigger' in variables.labels && variables.labels[?'app.kubernetes.io/instance'].orValue('') == 'r'" {
		t.Errorf("the label policy validates %q, want the labels the binding selects required", e)
	}

	// The Jobs the chart declares: none carries the label, on the Job or
	// (what a Job made from a template without labels takes) its pods.
	jobs := map[string]any{}
	for _, cj := range []string{"r-usersync", "r-usersync-incremental"} {
		o := ms.find("CronJob", cj)
		if o == nil {
			t.Fatalf("no CronJob %s: %v", cj, ms.kinds())
		}
		jobs["CronJob "+cj+" jobTemplate"] = get(o, "spec", "jobTemplate", "metadata", "labels")
		jobs["CronJob "+cj+" pod template"] = get(o, "spec", "jobTemplate", "spec", "template", "metadata", "labels")
	}
	hook := ms.find("Job", "r-usersync-migrate")
	if hook == nil {
		t.Fatalf("no migration hook: %v", ms.kinds())
	}
	jobs["the migration hook"] = get(hook, "metadata", "labels")
	for what, labels := range jobs {
		if !strings.HasSuffix(what, "pod template") && (get(labels, "team") != "it" || get(labels, "app.kubernetes.io/instance") != "r") {
			t.Errorf("%s labels %v: no commonLabels or instance label, is this where the Job's labels come from?", what, labels)
		}
		if get(labels, "usersync.io/trigger") != nil {
			t.Errorf("%s is labelled usersync.io/trigger: its Jobs would meet the CronJob parameter's binding", what)
		}
	}

	_, err := h.template(t, nil, "-f", "usersync/ci/default-values.yaml", "--set", "commonLabels.usersync\\.io/trigger=api")
	if err == nil || !strings.Contains(err.Error(), "commonLabels: usersync.io/trigger is the chart's own label") {
		t.Errorf("commonLabels with usersync.io/trigger: %v, want a refusal", err)
	}
}

// TestNotesWarnWithoutJobPolicy: where the Job policy is not installed,
// NOTES says what the API's ServiceAccount can do and what to do about it;
// where it is, how to remove the policies that helm uninstall leaves
// (helm install --dry-run=server on the real API server, which serves
// ValidatingAdmissionPolicy; TestSyncOnDemandOff checks that auto follows
// what the cluster serves).
func TestNotesWarnWithoutJobPolicy(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "notes")
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			h.kubeconfig = cp.KubeconfigPath()
			install := []string{"install", "r", chartDir, "--namespace", ns, "--dry-run=server", "-f", "usersync/ci/default-values.yaml"}
			for _, c := range []struct {
				args []string
				warn bool
			}{
				{[]string{"--set", "api.jobPolicy=never"}, true},
				{nil, false},
				{[]string{"--set", "api.syncOnDemand=false", "--set", "api.jobPolicy=never"}, false},
			} {
				out, err := h.run(t, append(install, c.args...)...)
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{"WARNING: nothing confines the Jobs", "api.jobPolicy is never", "a namespace of its own", "api.syncOnDemand=false"} {
					if strings.Contains(out, want) != c.warn {
						t.Errorf("%v: NOTES say %q: %v, want %v:\n%s", c.args, want, !c.warn, c.warn, notes(out))
					}
				}
				// With the policies, how to remove them for good, as they
				// outlive helm uninstall.
				policies := c.args == nil
				for _, want := range []string{"outlive `helm uninstall`", "kubernetes/kubernetes/issues/130887",
					"kubectl delete validatingadmissionpolicy,validatingadmissionpolicybinding -l app.kubernetes.io/instance=r,usersync.io/release-namespace=" + ns + "\n"} {
					if strings.Contains(out, want) != policies {
						t.Errorf("%v: NOTES say %q: %v, want %v:\n%s", c.args, want, !policies, policies, notes(out))
					}
				}
			}
		})
	}
}

// notes is the NOTES part of helm install's output.
func notes(out string) string {
	if _, after, ok := strings.Cut(out, "NOTES:"); ok {
		return after
	}
	return out
}

// TestAutoscaling: with api.autoscaling the Deployment leaves its replicas
// to a HorizontalPodAutoscaler, and the PodDisruptionBudget follows the
// autoscaler's floor.
func TestAutoscaling(t *testing.T) {
	h := helms(t)[0]
	base := []string{"-f", "usersync/ci/default-values.yaml", "--set", "api.autoscaling.enabled=true"}
	ms := h.mustTemplate(t, nil, base...)
	hpa := ms.find("HorizontalPodAutoscaler", "r-usersync-api")
	if get(hpa, "spec", "minReplicas") != 2 || get(hpa, "spec", "maxReplicas") != 6 || get(hpa, "spec", "scaleTargetRef", "name") != "r-usersync-api" ||
		get(hpa, "spec", "metrics", 0, "resource", "target", "averageUtilization") != 70 {
		t.Errorf("HorizontalPodAutoscaler = %v", hpa)
	}
	if r := get(ms.find("Deployment", "r-usersync-api"), "spec", "replicas"); r != nil {
		t.Errorf("the Deployment sets replicas %v: every helm upgrade would undo the autoscaler", r)
	}
	if ms.find("PodDisruptionBudget", "r-usersync-api") == nil {
		t.Error("minReplicas 2 and no PodDisruptionBudget")
	}
	one := h.mustTemplate(t, nil, append(base, "--set", "api.autoscaling.minReplicas=1")...)
	if one.find("PodDisruptionBudget", "r-usersync-api") != nil {
		t.Error("minReplicas 1 and a PodDisruptionBudget: it would block every node drain while the autoscaler is at its floor")
	}
	if off := h.mustTemplate(t, nil, "-f", "usersync/ci/default-values.yaml"); off.find("HorizontalPodAutoscaler", "r-usersync-api") != nil ||
		get(off.find("Deployment", "r-usersync-api"), "spec", "replicas") != 2 {
		t.Error("without autoscaling: an autoscaler, or no replicas on the Deployment")
	}
}

// TestSecretsByReference: the Pushgateway's URL (which may carry
// credentials) reaches Jobs only through a Secret, never as a literal that
// whoever may list Jobs can read; the API can have database credentials of
// its own and a read replica.
func TestSecretsByReference(t *testing.T) {
	h := helms(t)[0]
	url := "https://user:s3cret@pushgateway.example.com"
	ms := h.mustTemplate(t, nil, "-f", "usersync/ci/default-values.yaml", "--set", "metrics.pushgatewayURL="+url)
	if get(ms.find("Secret", "r-usersync-metrics"), "stringData", "url") != url {
		t.Error("no Secret r-usersync-metrics holding the Pushgateway's URL")
	}
	for _, o := range ms {
		if o.kind() == "Secret" {
			continue
		}
		if raw := fmt.Sprint(o); strings.Contains(raw, "s3cret") {
			t.Errorf("%s/%s carries the Pushgateway's credentials", o.kind(), o.name())
		}
	}
	env := envOf(get(podSpec(ms.find("CronJob", "r-usersync")), "containers", 0))
	if env["PUSHGATEWAY_URL"] != "secretKeyRef:r-usersync-metrics/url" {
		t.Errorf("PUSHGATEWAY_URL = %q, want a secret reference", env["PUSHGATEWAY_URL"])
	}

	scale := h.mustTemplate(t, nil, "-f", "usersync/ci/scale-out-values.yaml")
	if env := envOf(get(podSpec(scale.find("CronJob", "r-usersync")), "containers", 0)); env["PUSHGATEWAY_URL"] != "secretKeyRef:pushgateway/url-with-credentials" {
		t.Errorf("PUSHGATEWAY_URL = %q, want metrics.pushgatewayExistingSecret's key", env["PUSHGATEWAY_URL"])
	}
	if scale.find("Secret", "r-usersync-metrics") != nil {
		t.Error("a Pushgateway Secret rendered although one is given")
	}
	api := envOf(get(podSpec(scale.find("Deployment", "r-usersync-api")), "containers", 0))
	if api["DATABASE_URL"] != "secretKeyRef:usersapi-db/url" || api["DATABASE_READ_URL"] != "secretKeyRef:usersapi-db-replica/url" {
		t.Errorf("the API's DATABASE_URL %q, DATABASE_READ_URL %q; want api.database's Secrets", api["DATABASE_URL"], api["DATABASE_READ_URL"])
	}
	if sync := envOf(get(podSpec(scale.find("CronJob", "r-usersync")), "containers", 0)); sync["DATABASE_URL"] != "secretKeyRef:r-usersync-database/url" {
		t.Errorf("the sync's DATABASE_URL = %q, want the owner's", sync["DATABASE_URL"])
	}
	if get(scale.find("Secret", "r-usersync-database"), "stringData", "url") != "host=db.example.com port=5432 user=usersync dbname=usersync sslmode=verify-full" {
		t.Error("a libpq key=value connection string did not reach the database Secret")
	}
}

// TestNetworkPolicyLetsTestsAndPrometheusIn: narrowing the API's ingress to
// apiFrom still lets the release's helm test pod in, and
// networkPolicy.metricsFrom (Prometheus) besides.
func TestNetworkPolicyLetsTestsAndPrometheusIn(t *testing.T) {
	h := helms(t)[0]
	np := h.mustTemplate(t, nil, "-f", "usersync/ci/scale-out-values.yaml").find("NetworkPolicy", "r-usersync-api")
	from, _ := get(np, "spec", "ingress", 0, "from").([]any)
	var peers []string
	for i := range from {
		peers = append(peers, fmt.Sprint(get(from, i)))
	}
	want := []string{
		"map[namespaceSelector:map[matchLabels:map[kubernetes.io/metadata.name:ingress-nginx]]]",
		"map[podSelector:map[matchLabels:map[app.kubernetes.io/component:test app.kubernetes.io/instance:r app.kubernetes.io/name:usersync]]]",
		"map[namespaceSelector:map[matchLabels:map[kubernetes.io/metadata.name:monitoring]]]",
	}
	if d := cmp.Diff(want, peers); d != "" {
		t.Errorf("the API's NetworkPolicy admits (-want +got):\n%s", d)
	}
	test := h.mustTemplate(t, nil, "-f", "usersync/ci/scale-out-values.yaml").find("Pod", "r-usersync-test")
	for k, v := range map[string]string{"app.kubernetes.io/component": "test", "app.kubernetes.io/instance": "r", "app.kubernetes.io/name": "usersync"} {
		if get(test, "metadata", "labels", k) != v {
			t.Errorf("the test pod's label %s = %v, not what the NetworkPolicy admits", k, get(test, "metadata", "labels", k))
		}
	}
}

// TestSchemaAcceptsWhatPgxAccepts: externalDatabase.url takes what usersync
// can connect with — a URL or a libpq key=value string, as pgx parses them
// — and refuses what pgx refuses.
func TestSchemaAcceptsWhatPgxAccepts(t *testing.T) {
	h := helms(t)[0]
	for _, conn := range []string{
		"postgres://usersync:secret@db.example.com:5432/usersync?sslmode=verify-full",
		"postgresql://db.example.com/usersync",
		"host=db.example.com port=5432 user=usersync dbname=usersync sslmode=require",
		"host=/var/run/postgresql dbname=usersync",
		"  dbname=usersync password='a b'",
		"mysql://db.example.com/usersync",
		"db.example.com:5432",
		"usersync@db.example.com",
	} {
		_, pgxErr := pgx.ParseConfig(conn)
		_, err := h.template(t, nil, "--set", "snipeit.url=https://s", "--set", "snipeit.token=x",
			"--set", "secrets.generateWithoutCluster=true", "--set-string", "externalDatabase.url="+conn)
		if (err == nil) != (pgxErr == nil) {
			t.Errorf("%q: the chart says %v, pgx says %v", conn, err, pgxErr)
		}
	}
}
