// Package pushtest runs a real Prometheus Pushgateway (Debian's
// prometheus-pushgateway binary) for tests, on a free loopback port. When
// the binary is missing tests skip — or fail under CI (CI set).
package pushtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/usersync/usersync/pkg/eventually"
)

// Binary is the Pushgateway executable on PATH (Debian's name first, then
// upstream's), or "".
func Binary() string {
	for _, name := range []string{"prometheus-pushgateway", "pushgateway"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start runs a Pushgateway until the test ends and returns its URL. It
// skips when the binary is missing, and fails instead under CI.
func Start(tb testing.TB) string {
	tb.Helper()
	url, stop, err := Run(context.Background())
	if errors.Is(err, errNoBinary) {
		if os.Getenv("CI") != "" {
			tb.Fatal("prometheus-pushgateway is not installed (make test installs it)")
		}
		tb.Skip("prometheus-pushgateway is not installed; apt-get install prometheus-pushgateway")
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return url
}

var errNoBinary = errors.New("prometheus-pushgateway is not installed (make setup installs it)")

// Run starts a Pushgateway on a free loopback port, waits until it is
// ready, and returns its URL and the function that stops it.
func Run(ctx context.Context) (string, func(), error) {
	bin := Binary()
	if bin == "" {
		return "", nil, errNoBinary
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(ctx)
	// Debian's build persists to /var/lib/prometheus/pushgateway.data by
	// default: a test's gateway would start with whatever another gateway
	// on the machine saved there.
	cmd := exec.CommandContext(ctx, bin, "--web.listen-address="+addr, "--persistence.file=")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, fmt.Errorf("start pushgateway: %w", err)
	}
	stop := func() {
		cancel()
		_ = cmd.Wait()
	}
	url := "http://" + addr
	err = eventually.Wait(ctx, 15*time.Second, func() error {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("pushgateway at %s not ready: %w", url, err)
	}
	return url, stop, nil
}

// Scrape returns the gateway's metric families by name.
func Scrape(tb testing.TB, url string) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("parse pushgateway metrics: %v", err)
	}
	return fams
}

// Groups returns the grouping labels of every group the gateway holds
// (job included), as its API lists them, sorted by job, instance and scope.
func Groups(tb testing.TB, url string) []map[string]string {
	tb.Helper()
	resp, err := http.Get(url + "/api/v1/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			Labels map[string]string `json:"labels"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		tb.Fatalf("decode the pushgateway's groups: %v", err)
	}
	var out []map[string]string
	for _, g := range body.Data {
		out = append(out, g.Labels)
	}
	slices.SortFunc(out, func(a, b map[string]string) int {
		return cmp.Or(cmp.Compare(a["job"], b["job"]), cmp.Compare(a["instance"], b["instance"]), cmp.Compare(a["scope"], b["scope"]))
	})
	return out
}

// Value returns the value of the sample of family name whose labels
// include every label in want, and whether there is one.
func Value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// Describe renders labels for failure messages.
func Describe(name string, labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}
