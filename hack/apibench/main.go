// Command apibench measures usersapi's GET /users/{id} on loopback against
// two floors, bare net/http + pgx handlers with no router, middleware,
// auth, logs or metrics: floor-json writes the bytes of PostgreSQL's
// SELECT row_to_json(u) FROM users u WHERE id = $1 as the body (the least
// a Go server can do), floor scans the row's columns (postgres.DB.GetUser)
// and encodes them with encoding/json. usersapi runs as in production:
// bearer auth (every request carries a token, the floors ignore it),
// metrics, and an access-log line per request. All are driven by wrk
// (random ids, 32 connections, bounded duration) in alternating rounds, and
// the medians and spread of the rounds are reported, since other load on
// the machine falls on some rounds more than others; besides requests/s
// and p99, each server's CPU per request and that of the PostgreSQL
// backends serving it. -baseline and -also add other usersapi binaries
// (say, before a change) to the same rounds. Then the full GET /users
// stream is timed with the server's peak RSS, and a mixed load runs with
// RSS sampled over time. It prints a table.
//
//	apibench -usersapi bin/usersapi [-seed 100000] [-phases get,stream,mixed] [-baseline old/usersapi] [-also name=bin …]
//	apibench floor|floor-json   (internal: a floor server; DATABASE_URL names the database)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	if len(os.Args) > 1 && (os.Args[1] == "floor" || os.Args[1] == "floor-json") {
		err = serveFloor(ctx, os.Args[1], os.Getenv("DATABASE_URL"))
	} else {
		err = bench(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

// serveFloor serves one of the floors: "floor" scans the row's columns
// and encodes them in Go (apitest.FloorHandler over postgres.DB.GetUser);
// "floor-json" has PostgreSQL render the row (jsonFloor), the least a Go
// server can do.
func serveFloor(ctx context.Context, kind, dbURL string) error {
	// The same pool size as usersapi's, so the comparison is of handlers.
	db, err := postgres.Open(ctx, postgres.Config{URL: dbURL, MaxConns: 8})
	if err != nil {
		return err
	}
	defer db.Close()
	handler := apitest.FloorHandler(db.GetUser)
	if kind == "floor-json" {
		handler = jsonFloor(db.Pool())
	}
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		// To compare profiles of the floor and usersapi (built with -tags pprof).
		go func() { _ = http.ListenAndServe(addr, pprofMux()) }()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "{\"msg\":\"listening\",\"addr\":%q}\n", ln.Addr().String())
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// jsonFloor answers GET /users/{id} with the bytes of
// SELECT row_to_json(u) FROM users u WHERE id = $1: net/http, a pgx pool
// and nothing else.
func jsonFloor(pool *pgxpool.Pool) http.Handler {
	return apitest.JSONFloorHandler(func(ctx context.Context, id int64) ([]byte, error) {
		var body []byte
		err := pool.QueryRow(ctx, "SELECT row_to_json(u) FROM users u WHERE id = $1", id).Scan(&body)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, model.ErrNotFound
		}
		return body, err
	})
}

// pprofMux serves net/http/pprof.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

type options struct {
	together    bool
	usersapi    string
	baseline    string
	also        []namedBinary
	phases      map[string]bool
	token       string
	dbURL       string
	seed        int
	duration    time.Duration
	mixed       time.Duration
	connections int
	threads     int
	rounds      int
	workDir     string
}

func bench(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("apibench", flag.ContinueOnError)
	fs.StringVar(&o.usersapi, "usersapi", "bin/usersapi", "the usersapi binary")
	fs.IntVar(&o.seed, "seed", 0, "when the database holds fewer live users, mirror this many generated users first")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "each wrk run of GET /users/{id}")
	fs.DurationVar(&o.mixed, "mixed", 60*time.Second, "the mixed-load run")
	fs.IntVar(&o.connections, "connections", 32, "wrk connections")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.rounds, "rounds", 5, "alternating floor/usersapi rounds of GET /users/{id}")
	fs.StringVar(&o.baseline, "baseline", "", "another usersapi binary to measure in the same rounds (e.g. before a change)")
	fs.Func("also", "name=binary: one more usersapi binary to measure in the same rounds (repeatable)", func(v string) error {
		name, bin, ok := strings.Cut(v, "=")
		if !ok || name == "" || bin == "" || strings.HasPrefix(name, "floor") {
			return errors.New("want name=binary, the name not starting with floor")
		}
		o.also = append(o.also, namedBinary{name, bin})
		return nil
	})
	phases := fs.String("phases", "stream,get,mixed", "what to run: stream, get, mixed")
	fs.BoolVar(&o.together, "together", false, "run the GET /users/{id} contenders at the same time in each round (each with its own wrk) instead of one after another")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.phases = map[string]bool{}
	for p := range strings.SplitSeq(*phases, ",") {
		o.phases[strings.TrimSpace(p)] = true
	}
	o.dbURL = os.Getenv("DATABASE_URL")
	if o.dbURL == "" {
		return errors.New("set DATABASE_URL")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found (Debian package wrk)")
	}
	dir, err := os.MkdirTemp("", "apibench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.workDir = dir

	ids, err := prepare(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("database: %d live users; load average at start: %s\n", len(ids), loadAverage())
	// Auth on, as in production: a read token every request carries.
	o.token = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("read:"+o.token+"\n"), 0o600); err != nil {
		return err
	}
	if err := writeScripts(dir, ids, o.token); err != nil {
		return err
	}

	var rows [][]string
	add := func(what, value, target string) {
		rows = append(rows, []string{what, value, target})
		fmt.Printf("  %-56s %-40s %s\n", what, value, target)
	}
	// Each server connects under its own application_name, so that the CPU
	// of its PostgreSQL backends can be told apart (see runWrk).
	apiEnv := func(name string) []string {
		return []string{"DATABASE_URL=" + withAppName(o.dbURL, name), "API_TOKENS_FILE=" + tokens,
			"LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DELAY=0"}
	}

	// 1. The full stream, on a fresh server so its peak RSS is the stream's.
	api, err := startServer(ctx, "usersapi", o.usersapi, nil, apiEnv("usersapi")...)
	if err != nil {
		return err
	}
	defer api.stop()
	if o.phases["stream"] {
		n, bytes, took, err := streamAll(ctx, api.base+"/users", o.token)
		if err != nil {
			return err
		}
		add("GET /users stream: users, time", fmt.Sprintf("%d users, %.2f s", n, took.Seconds()), "≤ 1.5 s")
		add("GET /users stream: size, server peak RSS", fmt.Sprintf("%.1f MB, %.1f MiB", float64(bytes)/1e6, api.peakRSS()), "≤ 64 MiB")
		if n != len(ids) {
			return fmt.Errorf("the stream returned %d users, the database holds %d", n, len(ids))
		}
	}

	// 2. GET /users/{id}: the floor and usersapi (and the baseline), same
	// script and settings, in alternating rounds whose order flips each
	// round, so that load from elsewhere on the machine falls on all alike.
	if o.phases["get"] {
		floor, err := startServer(ctx, "floor", os.Args[0], []string{"floor"}, "DATABASE_URL="+withAppName(o.dbURL, "floor"))
		if err != nil {
			return err
		}
		defer floor.stop()
		jsonFloor, err := startServer(ctx, "floor-json", os.Args[0], []string{"floor-json"}, "DATABASE_URL="+withAppName(o.dbURL, "floor-json"))
		if err != nil {
			return err
		}
		defer jsonFloor.stop()
		contenders := []contender{{name: "floor-json", srv: jsonFloor}, {name: "floor", srv: floor}}
		others := o.also
		if o.baseline != "" {
			others = append([]namedBinary{{"baseline", o.baseline}}, others...)
		}
		for _, b := range others {
			srv, err := startServer(ctx, b.name, b.bin, nil, apiEnv(b.name)...)
			if err != nil {
				return err
			}
			defer srv.stop()
			contenders = append(contenders, contender{name: b.name, srv: srv})
		}
		contenders = append(contenders, contender{name: "usersapi", srv: api})
		if o.together {
			fmt.Println("  contenders run at the same time, each with its own wrk")
		}
		for round := range o.rounds {
			order := slices.Clone(contenders)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			results := make([]wrkResult, len(order))
			errs := make([]error, len(order))
			var wg sync.WaitGroup
			for k, c := range order {
				run := func() { results[k], errs[k] = runWrk(ctx, o, c.srv, "get.lua", o.duration) }
				if o.together {
					wg.Go(run)
				} else {
					run()
				}
			}
			wg.Wait()
			var line []string
			for k, c := range order {
				if errs[k] != nil {
					return errs[k]
				}
				i := slices.IndexFunc(contenders, func(x contender) bool { return x.name == c.name })
				contenders[i].runs = append(contenders[i].runs, results[k])
				line = append(line, c.name+" "+results[k].summary())
			}
			fmt.Printf("  round %d (load %s): %s\n", round+1, loadAverage(), strings.Join(line, "; "))
		}
		µs := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		for _, c := range contenders {
			add(c.name+" GET /users/{id}: req/s median (min–max)", spread(c.runs, func(r wrkResult) float64 { return r.rps }, "%.0f"), "")
			add(c.name+" GET /users/{id}: p99 ms median (min–max)", spread(c.runs, func(r wrkResult) float64 { return ms(r.p99) }, "%.1f"), "")
			add(c.name+" GET /users/{id}: errors", fmt.Sprint(sumErrors(c.runs)), "0")
			add(c.name+" GET /users/{id}: server CPU µs/request median (min–max)",
				spread(c.runs, func(r wrkResult) float64 { return µs(r.cpu) }, "%.0f"), "")
			add(c.name+" GET /users/{id}: PostgreSQL CPU µs/request median (min–max)",
				spread(c.runs, func(r wrkResult) float64 { return µs(r.dbCPU) }, "%.0f"), "")
		}
		// Ratios round by round (each pairs runs taken a few seconds apart),
		// against each floor; the targets are against the leaner one.
		for _, c := range contenders {
			if strings.HasPrefix(c.name, "floor") {
				continue
			}
			for _, fl := range contenders[:2] {
				target := func(t string) string {
					if fl.name == "floor-json" && c.name == "usersapi" {
						return t
					}
					return ""
				}
				add(c.name+" / "+fl.name+" req/s: median (min–max) of rounds",
					spreadRatio(c.runs, fl.runs, func(r wrkResult) float64 { return r.rps }), target("≥ 0.85"))
				add(c.name+" / "+fl.name+" p99: median (min–max) of rounds",
					spreadRatio(c.runs, fl.runs, func(r wrkResult) float64 { return ms(r.p99) }), target("≤ 1.3"))
				add(c.name+" / "+fl.name+" server CPU per request: median (min–max) of rounds",
					spreadRatio(c.runs, fl.runs, func(r wrkResult) float64 { return float64(r.cpu) }), "")
				add(c.name+" / "+fl.name+" server + PostgreSQL CPU per request: median (min–max) of rounds",
					spreadRatio(c.runs, fl.runs, func(r wrkResult) float64 { return float64(r.cpu + r.dbCPU) }), "")
			}
		}
	}

	// 3. Mixed load with RSS sampled every 5 s, and a full stream every 10 s.
	if o.phases["mixed"] {
		rss, streams, mw, err := mixedLoad(ctx, o, api)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("mixed %s: req/s, p99, errors", o.mixed), mw.summary(), "0 errors")
		add("mixed: full streams alongside, errors", streams, "0 errors")
		add("mixed: server RSS MiB, sampled every 5 s", rss, "no growth")
	}

	fmt.Println()
	fmt.Printf("load average at the end: %s (on %d CPUs)\n\n", loadAverage(), runtime.NumCPU())
	fmt.Println("| measure | result | target |")
	fmt.Println("|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	return nil
}

// namedBinary is a usersapi binary of -also.
type namedBinary struct{ name, bin string }

// contender is one server of the GET /users/{id} rounds and its results.
type contender struct {
	name string
	srv  *server
	runs []wrkResult
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "median (min–max)" of f over runs.
func spread(runs []wrkResult, f func(wrkResult) float64, format string) string {
	var xs []float64
	for _, r := range runs {
		xs = append(xs, f(r))
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(xs), slices.Min(xs), slices.Max(xs))
}

// spreadRatio is "median (min–max)" of f(a)/f(b) round by round.
func spreadRatio(a, b []wrkResult, f func(wrkResult) float64) string {
	var xs []float64
	for i := range a {
		xs = append(xs, f(a[i])/f(b[i]))
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", median(xs), slices.Min(xs), slices.Max(xs))
}

func sumErrors(runs []wrkResult) int {
	n := 0
	for _, r := range runs {
		n += r.errors
	}
	return n
}

// loadAverage is the 1-, 5- and 15-minute load averages of the machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// prepare migrates, seeds when asked, and returns every live user id.
func prepare(ctx context.Context, o options) ([]int64, error) {
	db, err := postgres.Open(ctx, postgres.Config{URL: o.dbURL})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	ids, err := liveIDs(ctx, db)
	if err != nil {
		return nil, err
	}
	if len(ids) < o.seed {
		fmt.Printf("seeding %d generated users…\n", o.seed)
		if _, err := db.MirrorUsers(ctx, generated(o.seed), model.DeleteGuard{AllowMassDelete: true}); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		return liveIDs(ctx, db)
	}
	return ids, nil
}

func liveIDs(ctx context.Context, db *postgres.DB) ([]int64, error) {
	rows, err := db.Pool().Query(ctx, "SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// generated yields n users shaped like Snipe-IT's, with every text field
// that a real directory tends to fill.
func generated(n int) iter.Seq2[*model.User, error] {
	return func(yield func(*model.User, error) bool) {
		start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			id := int64(i + 1)
			dept, loc, mgr := int64(i%40+1), int64(i%12+1), int64(i/50+1)
			sd := start.AddDate(0, 0, i%1500)
			upd := start.Add(time.Duration(i) * time.Minute)
			u := &model.User{
				ID: id, Username: fmt.Sprintf("user%06d", id), FirstName: "Firstname", LastName: fmt.Sprintf("Lastname%d", id),
				Name: fmt.Sprintf("Firstname Lastname%d", id), Email: fmt.Sprintf("user%06d@example.com", id),
				EmployeeNum: fmt.Sprintf("E%06d", id), JobTitle: "Software Engineer", Phone: "+49 30 1234567",
				Address: "Example Street 1", City: "Berlin", State: "BE", Country: "DE", Zip: "10115", Locale: "de-DE",
				Notes: "Imported from LDAP", DepartmentID: &dept, DepartmentName: fmt.Sprintf("Department %d", dept),
				LocationID: &loc, LocationName: fmt.Sprintf("Office %d", loc), ManagerID: &mgr, ManagerName: fmt.Sprintf("Manager %d", mgr),
				CompanyID: ptr(int64(1)), CompanyName: "Example GmbH", CompanyIDs: []int64{1}, Groups: []string{"Staff", "VPN"},
				Activated: true, LDAPImport: true, AssetsCount: int32(i % 4), LicensesCount: int32(i % 3),
				StartDate: &sd, LastLogin: &upd, CreatedAt: &start, UpdatedAt: &upd,
			}
			if !yield(u, nil) {
				return
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// writeScripts writes the wrk Lua scripts: random live ids, and the mix,
// every request with the bearer token.
func writeScripts(dir string, ids []int64, token string) error {
	var b strings.Builder
	b.WriteString("ids = {")
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteString("}\n")
	b.WriteString("wrk.headers[\"Authorization\"] = \"Bearer " + token + "\"\n")
	b.WriteString(`
local counts = {}
function setup(thread) end
function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000) end
function pick() return ids[math.random(1, #ids)] end
`)
	common := b.String()
	get := common + `request = function() return wrk.format("GET", "/users/" .. pick()) end
`
	// The mix: mostly single users, then pages with filters, asset pages,
	// a user's assets, sync status and runs.
	mixed := common + `request = function()
  local r = math.random(1, 100)
  if r <= 60 then return wrk.format("GET", "/users/" .. pick())
  elseif r <= 75 then return wrk.format("GET", "/users?limit=100&department_id=" .. math.random(1, 40))
  elseif r <= 82 then return wrk.format("GET", "/users?limit=20&q=user0" .. math.random(10, 99))
  elseif r <= 88 then return wrk.format("GET", "/users/" .. pick() .. "/assets")
  elseif r <= 93 then return wrk.format("GET", "/assets?limit=50")
  elseif r <= 97 then return wrk.format("GET", "/sync/status")
  else return wrk.format("GET", "/sync/runs?limit=10") end
end
`
	if err := os.WriteFile(filepath.Join(dir, "get.lua"), []byte(get), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mixed.lua"), []byte(mixed), 0o644)
}

// server is a process under test.
type server struct {
	name string // its application_name is "apibench-" + name
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

// withAppName sets the application_name of a database URL to
// "apibench-" + name.
func withAppName(dbURL, name string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL // a key=value string: left as it is
	}
	q := u.Query()
	q.Set("application_name", "apibench-"+name)
	u.RawQuery = q.Encode()
	return u.String()
}

func startServer(ctx context.Context, name, bin string, args []string, env ...string) (*server, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LOG_LEVEL=info"}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{name: name, cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		re := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		listening := false
		for sc.Scan() {
			// Cheap checks only: this reader competes with the server for
			// the same two cores while wrk runs.
			if !listening {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					listening = true
					addr <- m[1]
				}
			} else if strings.Contains(sc.Text(), `"level":"ERROR"`) {
				fmt.Fprintln(os.Stderr, "server:", sc.Text())
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("%s exited before listening", bin)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not listen within 30s", bin)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// procKiB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func (s *server) procKiB(field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return f
		}
	}
	return 0
}

func (s *server) peakRSS() float64 { return s.procKiB("VmHWM") / 1024 }
func (s *server) rss() float64     { return s.procKiB("VmRSS") / 1024 }

// streamAll reads a whole listing, counting its elements without keeping
// them, and times it.
func streamAll(ctx context.Context, url, token string) (n int, size int64, took time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	// Count the array's elements with a byte scanner, not a JSON decoder:
	// decoding 100 MB on the same two cores would time the client, not the
	// server (curl -o /dev/null takes the same time as this).
	n, size, err = countElements(bufio.NewReaderSize(resp.Body, 64<<10))
	return n, size, time.Since(start), err
}

// countElements reads a JSON array of objects to its end and counts the
// top-level elements, tracking only strings and nesting.
func countElements(r io.ByteReader) (n int, size int64, err error) {
	depth, inString, escaped := 0, false, false
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			if depth != 0 {
				return n, size, fmt.Errorf("truncated after %d elements", n)
			}
			return n, size, nil
		}
		if err != nil {
			return n, size, err
		}
		size++
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 1 && c == '}' {
				n++
			}
		}
	}
}

// wrkResult is what one wrk run reports, and the server's CPU time per
// request over it (user and system, from /proc): a measure that other load
// on the machine moves far less than throughput.
type wrkResult struct {
	rps    float64
	p99    time.Duration
	errors int
	cpu    time.Duration
	// dbCPU is the CPU per request of the PostgreSQL backends that served
	// the server.
	dbCPU time.Duration
}

func (w wrkResult) summary() string {
	s := fmt.Sprintf("%.0f/s, p99 %.1f ms, %d err", w.rps, float64(w.p99)/float64(time.Millisecond), w.errors)
	if w.cpu > 0 {
		s += fmt.Sprintf(", %.0f+%.0f µs CPU/req", float64(w.cpu)/float64(time.Microsecond), float64(w.dbCPU)/float64(time.Microsecond))
	}
	return s
}

// cpuTime is the process's user plus system CPU time so far.
func (s *server) cpuTime() time.Duration { return processCPU(s.cmd.Process.Pid) }

// backendCPU is the CPU time so far of each PostgreSQL backend serving s
// (by application_name), by pid. PostgreSQL runs on the same cores: a
// server that has it render JSON moves CPU there, and a fair comparison
// counts both.
func (s *server) backendCPU(ctx context.Context, dbURL string) (map[int]time.Duration, error) {
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", "apibench-"+s.name)
	if err != nil {
		return nil, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, err
	}
	cpu := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		cpu[pid] = processCPU(pid)
	}
	return cpu, nil
}

// cpuSince is the CPU the backends of now used since then: a backend that
// is new counts whole. (One that ended in between, as a connection whose
// query a client's cancelled request cut, is missed.)
func cpuSince(then, now map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, cpu := range now {
		d += cpu - then[pid]
	}
	return d
}

// processCPU is a process's user plus system CPU time so far; 0 when it
// cannot be read.
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data)[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP99     = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk drives srv with a script for d, after a short warm-up.
func runWrk(ctx context.Context, o options, srv *server, script string, d time.Duration) (wrkResult, error) {
	base := srv.base
	wrk := func(d time.Duration) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
			"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", "--timeout", "5s",
			"-s", filepath.Join(o.workDir, script), base).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("wrk: %w: %s", err, out)
		}
		return string(out), nil
	}
	if _, err := wrk(3 * time.Second); err != nil {
		return wrkResult{}, err
	}
	// The pool's connections are open after the warm-up.
	db0, err := srv.backendCPU(ctx, o.dbURL)
	if err != nil {
		return wrkResult{}, err
	}
	cpu0 := srv.cpuTime()
	out, err := wrk(d)
	if err != nil {
		return wrkResult{}, err
	}
	cpu := srv.cpuTime() - cpu0
	db1, err := srv.backendCPU(ctx, o.dbURL)
	if err != nil {
		return wrkResult{}, err
	}
	var r wrkResult
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if r.rps > 0 {
		n := r.rps * d.Seconds()
		r.cpu = time.Duration(float64(cpu) / n)
		r.dbCPU = time.Duration(float64(cpuSince(db0, db1)) / n)
	}
	if m := reP99.FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
		r.p99 = time.Duration(v * float64(unit))
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.errors, _ = strconv.Atoi(m[1])
	}
	if m := reSockErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.errors += n
		}
	}
	return r, nil
}

// mixedLoad runs the mixed wrk script for o.mixed while one client streams
// every user every 10 s, sampling the server's RSS every 5 s.
func mixedLoad(ctx context.Context, o options, api *server) (rss, streams string, res wrkResult, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type streamStats struct{ ok, failed int }
	streamDone := make(chan streamStats, 1)
	go func() {
		var st streamStats
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				streamDone <- st
				return
			case <-tick.C:
				if _, _, _, err := streamAll(ctx, api.base+"/users", o.token); err != nil && ctx.Err() == nil {
					st.failed++
					slog.Warn("stream during mixed load", "err", err)
				} else if err == nil {
					st.ok++
				}
			}
		}
	}()
	var samples []string
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				samples = append(samples, fmt.Sprintf("%.0f", api.rss()))
			}
		}
	}()
	res, err = runWrk(ctx, o, api, "mixed.lua", o.mixed)
	cancel()
	<-sampleDone
	st := <-streamDone
	return strings.Join(samples, " "), fmt.Sprintf("%d ok, %d failed", st.ok, st.failed), res, err
}
