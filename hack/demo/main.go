// Command demo shows usersync end to end on this machine: it starts the
// Snipe-IT simulator with a few thousand users and assets, creates a
// throwaway database on the local PostgreSQL, runs `usersync --full`,
// prints what landed, then serves it with usersapi and prints curl lines
// that work. Ctrl-C stops it: it stops usersapi and the simulator, drops
// the database, says so, and exits 0.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

func main() {
	// Ctrl-C, SIGTERM, or the terminal closing: each stops the demo cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// make runs the demo in the terminal's foreground group, and Ctrl-C
	// would kill make too, whatever the demo does ("make: *** Error 1" or
	// "Interrupt", status 130). Taking the terminal for the demo's own group
	// leaves the Ctrl-C to the demo alone, and make exits with its status.
	giveBack := takeTerminal()
	err := run(ctx, os.Args[1:], os.Stdout)
	giveBack()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	bin           string
	server        string
	database      string
	users, assets int
	listen        string
	exit          bool
}

// run sets the demo up, step by step, and undoes every step on the way out:
// when it fails, when ctx is cancelled (Ctrl-C), or at once with -exit.
// Being stopped is no failure: run then returns nil.
func run(ctx context.Context, args []string, out io.Writer) (err error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the usersync and usersapi binaries")
	fs.StringVar(&o.server, "server", envOr("DEMO_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server to create the demo database on")
	fs.StringVar(&o.database, "database", "usersync_demo", "name of the throwaway database (dropped and created)")
	fs.IntVar(&o.users, "users", 3000, "simulated Snipe-IT users")
	fs.IntVar(&o.assets, "assets", 2000, "simulated Snipe-IT assets")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "where usersapi listens (127.0.0.1:0 picks a free port)")
	fs.BoolVar(&o.exit, "exit", false, "stop after checking the API answers, instead of serving until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	undo := &cleanup{}
	defer func() {
		if err != nil && ctx.Err() != nil {
			// The step that failed was cut short by Ctrl-C.
			fmt.Fprintf(out, "\n==> Stopped before the demo was ready (%v)\n", err)
			err = nil
		} else if ctx.Err() != nil {
			fmt.Fprintln(out, "\n==> Stopped")
		}
		undo.run(out)
	}()

	// 1. Snipe-IT: the project's simulator, on loopback.
	sim, err := snipeittest.New(snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: o.users, Assets: o.assets, Seed: 42})})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	simServer := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = simServer.Serve(ln) }()
	undo.add("stopped the Snipe-IT simulator", simServer.Close)
	simURL := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "==> Snipe-IT simulator at %s with %d users and %d assets (archived and deleted ones included)\n", simURL, o.users, o.assets)

	// 2. A throwaway database.
	dbURL, drop, err := pgtest.Recreate(ctx, o.server, o.database)
	if err != nil {
		return fmt.Errorf("%w (run `make setup`, or set DEMO_DATABASE_URL)", err)
	}
	undo.add("dropped the database "+o.database, func() error {
		drop()
		return databaseGone(o.server, o.database)
	})
	fmt.Fprintf(out, "==> database %s\n", dbURL)

	// 3. The sync, exactly as the CronJob runs it.
	fmt.Fprintf(out, "==> %s/usersync --full\n", o.bin)
	env := append(os.Environ(), "SNIPEIT_URL="+simURL, "SNIPEIT_TOKEN="+sim.Token(), "DATABASE_URL="+dbURL, "SNIPEIT_RATE_LIMIT=0", "LOG_LEVEL=warn")
	sync := exec.CommandContext(ctx, filepath.Join(o.bin, "usersync"), "--full")
	sync.Env, sync.Stdout, sync.Stderr = env, out, os.Stderr
	// On Ctrl-C usersync rolls back and records a failed run, as in a Job.
	sync.Cancel = func() error { return sync.Process.Signal(syscall.SIGTERM) }
	sync.SysProcAttr = ownProcessGroup()
	if err := sync.Run(); err != nil {
		return fmt.Errorf("usersync: %w", err)
	}
	example, err := summarize(ctx, out, dbURL)
	if err != nil {
		return err
	}

	// 4. The API on the synced data.
	dir, err := os.MkdirTemp("", "usersync-demo")
	if err != nil {
		return err
	}
	undo.add("removed "+dir+" (the API tokens)", func() error { return os.RemoveAll(dir) })
	readToken, syncToken := randomToken(), randomToken()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# scope:token\nread:"+readToken+"\nsync:"+syncToken+"\n"), 0o600); err != nil {
		return err
	}
	apiURL, stopAPI, err := startAPI(ctx, filepath.Join(o.bin, "usersapi"), o.listen, dbURL, tokens)
	if err != nil {
		return err
	}
	undo.add("stopped usersapi", stopAPI)
	if err := checkAPI(apiURL, readToken, example); err != nil {
		return err
	}
	auth := "-H 'Authorization: Bearer " + readToken + "'"
	fmt.Fprintf(out, "\n==> usersapi at %s (tokens in %s). Try:\n", apiURL, tokens)
	for _, l := range []string{
		"curl -s " + auth + " '" + apiURL + "/users?limit=3'",
		"curl -si " + auth + " '" + apiURL + "/users?limit=2&department_id=3'   # see the Link header",
		"curl -s " + auth + " '" + apiURL + "/users?q=o%27&limit=5'",
		fmt.Sprintf("curl -s %s '%s/users/%d'", auth, apiURL, example),
		fmt.Sprintf("curl -s %s '%s/users/%d/assets'   # the assets checked out to that user", auth, apiURL, example),
		"curl -s " + auth + " '" + apiURL + "/assets?status=archived&limit=2'",
		"curl -s " + auth + " '" + apiURL + "/sync/status'",
		"curl -s " + auth + " '" + apiURL + "/users' | wc -c   # every user, streamed",
		"curl -si '" + apiURL + "/users'                        # 401 without a token",
		"curl -s '" + apiURL + "/openapi.json' | head -c 300; echo   # docs at " + apiURL + "/docs",
	} {
		fmt.Fprintln(out, "  "+l)
	}
	if o.exit {
		return nil
	}
	fmt.Fprintln(out, "\nServing until Ctrl-C; then usersapi and the simulator stop and the demo database is dropped.")
	<-ctx.Done()
	return nil
}

// cleanup is the demo's undo list: run undoes the steps in reverse order
// and says what it did, so that a user who stops the demo knows nothing
// is left behind (or what is).
type cleanup struct{ steps []cleanupStep }

type cleanupStep struct {
	done string
	undo func() error
}

func (c *cleanup) add(done string, undo func() error) {
	c.steps = append(c.steps, cleanupStep{done, undo})
}

func (c *cleanup) run(out io.Writer) {
	if len(c.steps) == 0 {
		return
	}
	fmt.Fprintln(out, "==> Cleaning up")
	for i := len(c.steps) - 1; i >= 0; i-- {
		if err := c.steps[i].undo(); err != nil {
			fmt.Fprintf(out, "  FAILED: %s: %v\n", c.steps[i].done, err)
			continue
		}
		fmt.Fprintf(out, "  %s\n", c.steps[i].done)
	}
}

// databaseGone checks that the demo database was dropped.
func databaseGone(server, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		return fmt.Errorf("check the database is gone: %w", err)
	}
	defer c.Close(ctx)
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("check the database is gone: %w", err)
	}
	if exists {
		return fmt.Errorf("database %s still exists", name)
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// summarize prints what landed in the mirror and returns a user for the
// curl lines: the first live one with assets checked out.
func summarize(ctx context.Context, out io.Writer, dbURL string) (int64, error) {
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var users, deletedUsers, assets, archived, assigned, departments int
	err = c.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM users WHERE deleted_at IS NULL),
		(SELECT count(*) FROM users WHERE deleted_at IS NOT NULL),
		(SELECT count(*) FROM assets WHERE deleted_at IS NULL),
		(SELECT count(*) FROM assets WHERE deleted_at IS NULL AND status_type = 'archived'),
		(SELECT count(*) FROM assets WHERE deleted_at IS NULL AND assigned_user_id IS NOT NULL),
		(SELECT count(DISTINCT department_id) FROM users WHERE deleted_at IS NULL)`).
		Scan(&users, &deletedUsers, &assets, &archived, &assigned, &departments)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\n==> What landed in PostgreSQL\n")
	fmt.Fprintf(out, "users: %d live in %d departments; assets: %d live, %d of them archived, %d checked out to users\n",
		users, departments, assets, archived, assigned)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nid\tusername\tname\tdepartment\tassets")
	rows, err := c.Query(ctx, `SELECT id, username, name, coalesce(department_name, ''), assets_count
		FROM users WHERE deleted_at IS NULL ORDER BY assets_count DESC, id LIMIT 5`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id int64
		var username, name, dept string
		var n int
		if err := rows.Scan(&id, &username, &name, &dept, &n); err != nil {
			return 0, err
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\n", id, username, name, dept, n)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	fmt.Fprintln(tw, "\nsync run\tscope\tstatus\tfetched\tinserted\tduration")
	rows, err = c.Query(ctx, `SELECT id, scope, status, fetched, inserted, finished_at - started_at FROM sync_runs ORDER BY id`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id, fetched, inserted int64
		var scope, status string
		var d time.Duration
		if err := rows.Scan(&id, &scope, &status, &fetched, &inserted, &d); err != nil {
			return 0, err
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", id, scope, status, fetched, inserted, d.Round(time.Millisecond))
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	fmt.Fprintln(tw, "\nTry: psql '"+dbURL+"' -c 'SELECT username, email, department_name FROM users WHERE deleted_at IS NULL LIMIT 5'")
	if err := tw.Flush(); err != nil {
		return 0, err
	}
	// Snipe-IT's assets_count need not match what the mirror holds; pick
	// the user from the assets themselves, so GET /users/{id}/assets shows some.
	var example int64
	err = c.QueryRow(ctx, `SELECT coalesce(min(u.id), 0) FROM users u
		JOIN assets a ON a.assigned_user_id = u.id AND a.deleted_at IS NULL
		WHERE u.deleted_at IS NULL`).Scan(&example)
	if err != nil {
		return 0, err
	}
	if example == 0 {
		return 0, errors.New("no live user has assets checked out; nothing to show with /users/{id}/assets")
	}
	return example, nil
}

var listening = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// startAPI runs usersapi and waits for its "listening" log line.
func startAPI(ctx context.Context, bin, listen, dbURL, tokens string) (string, func() error, error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "LISTEN_ADDR="+listen, "API_TOKENS_FILE="+tokens,
		"LOG_FORMAT=json", "SHUTDOWN_DELAY=0s")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.SysProcAttr = ownProcessGroup()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, fmt.Errorf("start usersapi: %w", err)
	}
	// stop sends SIGTERM; usersapi drains and exits 0.
	stop := func() error {
		cancel()
		if err := cmd.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("usersapi: %w", err)
		}
		return nil
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var sent bool
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
		if !sent {
			close(addr)
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			_ = stop()
			return "", nil, errors.New("usersapi exited before listening (is the port taken? use -listen 127.0.0.1:0)")
		}
		return "http://" + a, stop, nil
	case <-time.After(15 * time.Second):
		_ = stop()
		return "", nil, errors.New("usersapi did not start listening within 15s")
	}
}

// checkAPI makes sure the printed curl lines work before showing them: a
// page of users, and the assets of the example user, which are not none.
func checkAPI(apiURL, token string, example int64) error {
	for _, path := range []string{"/users?limit=1", fmt.Sprintf("/users/%d/assets", example)} {
		req, _ := http.NewRequest(http.MethodGet, apiURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("usersapi: %w", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var rows []json.RawMessage
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rows) != nil || len(rows) == 0 {
			return fmt.Errorf("usersapi answered GET %s with %d: %.300s", path, resp.StatusCode, body)
		}
	}
	return nil
}
