package helm

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/kube/kubelettest"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// resolveSecretRef reads the value an env var of a container refers to,
// as the kubelet would.
func resolveSecretRef(t *testing.T, client kubernetes.Interface, ns string, c corev1.Container, name string) string {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != name {
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Fatalf("%s of container %s is not a secret reference", name, c.Name)
		}
		ref := e.ValueFrom.SecretKeyRef
		s, err := client.CoreV1().Secrets(ns).Get(context.Background(), ref.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s refers to Secret %s: %v", name, ref.Name, err)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			t.Fatalf("%s refers to key %s, not in Secret %s", name, ref.Key, ref.Name)
		}
		return string(v)
	}
	t.Fatalf("container %s has no %s", c.Name, name)
	return ""
}

// resolveSecretVolume reads the file a pod spec's secret volume puts at
// path, as the kubelet would mount it.
func resolveSecretVolume(t *testing.T, client kubernetes.Interface, ns string, spec corev1.PodSpec, volume, path string) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name != volume || v.Secret == nil {
			continue
		}
		s, err := client.CoreV1().Secrets(ns).Get(context.Background(), v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("volume %s refers to Secret %s: %v", volume, v.Secret.SecretName, err)
		}
		for _, it := range v.Secret.Items {
			if it.Path == path {
				return string(s.Data[it.Key])
			}
		}
		t.Fatalf("volume %s has no file %s", volume, path)
	}
	t.Fatalf("no secret volume %s", volume)
	return ""
}

// TestGeneratedSecretsOutliveUninstall: with the bundled PostgreSQL, whose
// volume outlives helm uninstall, the generated password, API tokens and
// webhook secret outlive it too, and a reinstall under the same name — Helm
// adopting the kept Secrets — gives PostgreSQL, the sync and the API the
// same password, clients the same tokens and Snipe-IT the same webhook URL. A Secret of that name that Helm would refuse
// to adopt (made by hand, restored from a backup) is used as it is.
func TestGeneratedSecretsOutliveUninstall(t *testing.T) {
	cp := kubetest.Get(t)
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			ns := cp.CreateNamespace(t, "keep-"+h.name)
			client := cp.Clientset()
			ctx := context.Background()
			h.kubeconfig = cp.KubeconfigPath()
			// No hooks: the migration would wait for a database no kubelet runs.
			install := []string{"install", "r", chartDir, "--namespace", ns, "--no-hooks",
				"--set", "snipeit.url=https://snipe.example.com", "--set", "snipeit.token=t", "--set", "api.webhook.enabled=true"}
			state := func() (password, cronPassword, tokens, webhook string) {
				t.Helper()
				sts, err := client.AppsV1().StatefulSets(ns).Get(ctx, "r-usersync-postgresql", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				cj, err := client.BatchV1().CronJobs(ns).Get(ctx, "r-usersync", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				tok, err := client.CoreV1().Secrets(ns).Get(ctx, "r-usersync-api-tokens", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				dep, err := client.AppsV1().Deployments(ns).Get(ctx, "r-usersync-api", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return resolveSecretRef(t, client, ns, sts.Spec.Template.Spec.Containers[0], "POSTGRES_PASSWORD"),
					resolveSecretRef(t, client, ns, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0], "PGPASSWORD"),
					string(tok.Data["tokens"]), resolveSecretVolume(t, client, ns, dep.Spec.Template.Spec, "webhook-secret", "secret")
			}

			if _, err := h.run(t, install...); err != nil {
				t.Fatal(err)
			}
			password, cronPassword, tokens, webhook := state()
			if len(password) < 32 || cronPassword != password {
				t.Fatalf("PostgreSQL's password %q, the sync's %q: want one generated password", password, cronPassword)
			}
			if len(webhook) < 48 {
				t.Fatalf("the webhook's secret %q: want a generated one of 48 characters", webhook)
			}
			if _, err := h.run(t, "upgrade", "r", chartDir, "--namespace", ns, "--no-hooks", "--reuse-values", "--set", "api.replicas=1"); err != nil {
				t.Fatal(err)
			}
			if p, _, tk, wh := state(); p != password || tk != tokens || wh != webhook {
				t.Fatal("helm upgrade changed the generated password, tokens or webhook secret")
			}

			if _, err := h.run(t, "uninstall", "r", "--namespace", ns); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"r-usersync-database", "r-usersync-api-tokens", "r-usersync-webhook"} {
				if _, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
					t.Errorf("helm uninstall deleted Secret %s: %v", name, err)
				}
			}
			if _, err := client.AppsV1().StatefulSets(ns).Get(ctx, "r-usersync-postgresql", metav1.GetOptions{}); err == nil {
				t.Error("helm uninstall left the StatefulSet")
			}

			if _, err := h.run(t, install...); err != nil {
				t.Fatalf("reinstall over the kept Secrets: %v", err)
			}
			if p, cp, tk, wh := state(); p != password || cp != password || tk != tokens || wh != webhook {
				t.Errorf("after uninstall and reinstall: password %q (sync %q), tokens changed %v, webhook secret changed %v; want the kept ones",
					p, cp, tk != tokens, wh != webhook)
			}
			// The reinstalled release owns the kept Secrets again: its next
			// uninstall keeps them, its upgrades read them.
			manifest, err := h.run(t, "get", "manifest", "r", "--namespace", ns)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(manifest, "name: r-usersync-database") || !strings.Contains(manifest, "name: r-usersync-api-tokens") ||
				!strings.Contains(manifest, "name: r-usersync-webhook") {
				t.Error("the reinstalled release does not manage the kept Secrets")
			}

			// A database Secret Helm would not adopt: made by hand after the
			// uninstall, with the password of a restored volume.
			if _, err := h.run(t, "uninstall", "r", "--namespace", ns); err != nil {
				t.Fatal(err)
			}
			if err := client.CoreV1().Secrets(ns).Delete(ctx, "r-usersync-database", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			restored := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "r-usersync-database"},
				StringData: map[string]string{"postgres-password": "restored-from-backup"}}
			if _, err := client.CoreV1().Secrets(ns).Create(ctx, restored, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.run(t, install...); err != nil {
				t.Fatalf("install beside a Secret Helm does not own: %v", err)
			}
			if p, cp, _, _ := state(); p != "restored-from-backup" || cp != p {
				t.Errorf("with a hand-made Secret: PostgreSQL's password %q, the sync's %q; want the Secret's", p, cp)
			}
		})
	}
}

// TestVolumeClaimChangesFailTheUpgrade: a StatefulSet's volumeClaimTemplates
// are immutable, so changing postgresql.persistence.size or storageClass
// after the install fails the render with the reason and where the
// procedure is — not an API error halfway through the upgrade. The same
// size written another way is no change.
func TestVolumeClaimChangesFailTheUpgrade(t *testing.T) {
	cp := kubetest.Get(t)
	h := helms(t)[0]
	h.kubeconfig = cp.KubeconfigPath()
	ns := cp.CreateNamespace(t, "volume")
	install := []string{"--namespace", ns, "--no-hooks", "--set", "snipeit.url=https://snipe.example.com", "--set", "snipeit.token=t"}
	if _, err := h.run(t, append([]string{"install", "r", chartDir}, install...)...); err != nil {
		t.Fatal(err)
	}
	upgrade := append([]string{"upgrade", "r", chartDir}, install...)
	for _, c := range []struct {
		set, want string
	}{
		{"postgresql.persistence.size=16Gi", "postgresql.persistence.size cannot change from 8Gi to 16Gi"},
		{"postgresql.persistence.storageClass=fast", `postgresql.persistence.storageClass cannot change from "" to "fast"`},
	} {
		_, err := h.run(t, append(upgrade, "--set", c.set)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "Resizing the bundled PostgreSQL's volume") {
			t.Errorf("upgrade --set %s: %v, want %q and the procedure's section", c.set, err, c.want)
		}
	}
	if _, err := h.run(t, append(upgrade, "--set", "postgresql.persistence.size=8192Mi")...); err != nil {
		t.Errorf("8192Mi is 8Gi: %v", err)
	}
}

// TestFirstInstallWaitsForTheDatabase: helm install without --wait, with
// the bundled PostgreSQL, on a cluster where the database takes a while to
// accept connections (image pull, volume, initdb): the post-install
// migration hook — run by the kubelet stand-in as the chart declares it,
// DATABASE_WAIT included — waits for it instead of failing, and the
// install succeeds.
func TestFirstInstallWaitsForTheDatabase(t *testing.T) {
	cp := kubetest.Get(t)
	h := helms(t)[0]
	h.kubeconfig = cp.KubeconfigPath()
	ns := cp.CreateNamespace(t, "cold")
	client := cp.Clientset()
	bin := binaries(t)
	kubelet := kubelettest.Start(t, kubelettest.Config{
		Client: client, Namespace: ns,
		Binaries: map[string]string{"/usersync": filepath.Join(bin, "usersync"), "/usersapi": filepath.Join(bin, "usersapi")},
		BaseEnv:  []string{"PATH=" + os.Getenv("PATH")},
		Logf:     t.Logf,
	})

	// The bundled PostgreSQL's Service, as the hook addresses it, leads to
	// a port where nothing listens until the database "starts".
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	late, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := late.Addr().String()
	late.Close() // refused until startDatabase
	kubelet.SetRewrite("r-usersync-postgresql."+ns+".svc:5432", port)
	startDatabase := func() {
		ln, err := net.Listen("tcp", port)
		if err != nil {
			t.Errorf("start the late database: %v", err)
			return
		}
		t.Cleanup(func() { ln.Close() })
		go proxy(ln, u.Host)
	}

	values := []string{"--set", "snipeit.url=https://snipe.example.com", "--set", "snipeit.token=t",
		// Trust authentication here: the generated password is sent and ignored.
		"--set", "postgresql.username=" + u.User.Username(), "--set", "postgresql.database=" + strings.TrimPrefix(u.Path, "/")}
	done := make(chan error, 1)
	go func() {
		_, err := h.run(t, append([]string{"install", "r", chartDir, "--namespace", ns, "--timeout", "3m"}, values...)...)
		done <- err
	}()
	// The hook is running, and finds nothing to connect to; the database
	// comes up a while later.
	eventually.Until(t, 2*time.Minute, "the migration hook to run", func() bool {
		j, err := client.BatchV1().Jobs(ns).Get(context.Background(), "r-usersync-migrate", metav1.GetOptions{})
		return err == nil && (j.Status.Active > 0 || j.Status.Failed > 0)
	})
	time.AfterFunc(5*time.Second, startDatabase)
	if err := <-done; err != nil {
		for _, r := range kubelet.Runs("r-usersync-migrate") {
			t.Logf("migration run: %v\n%s", r.Err, r.Output)
		}
		t.Fatalf("helm install without --wait, the database late: %v", err)
	}
	runs := kubelet.Runs("r-usersync-migrate")
	if len(runs) != 1 || runs[0].Err != nil {
		t.Errorf("migration hook runs: %+v; want one that waited and succeeded", runs)
	}
	var env []string
	if len(runs) > 0 {
		env = runs[0].Env
	}
	if !slices.Contains(env, "DATABASE_WAIT=300s") {
		t.Errorf("the hook ran without DATABASE_WAIT=300s: %v", env)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'assets', 'sync_runs')`).Scan(&tables); err != nil || tables != 3 {
		t.Errorf("after the hook: %d of the mirror's tables (%v), want 3", tables, err)
	}
}

// proxy forwards every connection ln accepts to target.
func proxy(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			d, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer d.Close()
			go func() { _, _ = io.Copy(d, c) }()
			_, _ = io.Copy(c, d)
		}()
	}
}
