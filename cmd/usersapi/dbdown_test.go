package main_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/eventually"
)

// dbProxy forwards TCP connections to the database and can cut them all,
// as a database restart or a network failure would.
type dbProxy struct {
	t      *testing.T
	addr   string // where clients connect
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	p := &dbProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *dbProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut stops accepting and closes every connection.
func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore accepts again on the same address.
func (p *dbProxy) restore() { p.listen(p.addr) }

// TestDatabaseOutageIs503AndRecoversWithoutRestart takes the database away
// from a running usersapi and gives it back.
func TestDatabaseOutageIs503AndRecoversWithoutRestart(t *testing.T) {
	dbURL := seedDatabase(t, genUsers(20), nil)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newDBProxy(t, u.Host)
	u.Host = proxy.addr
	api := startAPI(t, "DATABASE_URL="+u.String(), "PUBLIC_READS=true")

	status := func(path string) (int, string) {
		resp, body := get(t, api.Base+path, "")
		return resp.StatusCode, string(body)
	}
	if code, _ := status("/users/1"); code != http.StatusOK {
		t.Fatalf("before the outage: GET /users/1 = %d", code)
	}

	proxy.cut()
	code, body := status("/users/1")
	if code != http.StatusServiceUnavailable {
		t.Errorf("during the outage: GET /users/1 = %d, want 503", code)
	}
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "dial") {
		t.Errorf("the 503 leaks internals: %s", body)
	}
	if code, _ := status("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("during the outage: /readyz = %d, want 503", code)
	}
	if code, _ := status("/healthz"); code != http.StatusOK {
		t.Errorf("during the outage: /healthz = %d, want 200 (the process is alive)", code)
	}

	proxy.restore()
	eventually.Until(t, 30*time.Second, "GET /users/1 to answer 200 again", func() bool { code, _ := status("/users/1"); return code == http.StatusOK })
	if code, _ := status("/readyz"); code != http.StatusOK {
		t.Errorf("after the outage: /readyz = %d, want 200", code)
	}
}
