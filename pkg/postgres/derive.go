package postgres

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
)

// Derivation: the columns of a row that Snipe-IT shows from other records
// (a department's name, a user's asset count…) change without the row's
// updated_at, so an incremental run cannot read them from the rows that
// changed. Derive computes them in SQL over the rows as they will be after
// Apply — the staged rows over the mirror's — and stages every live row
// whose derived columns differ, whole, through Stage: its digest is then
// computed as for any fetched row, so the next full run finds it unchanged.
//
// A derived column is an SQL expression over the merged row u (and the
// joins of its table's query); the rows that change are collected into a
// temporary table first and staged from there a batch at a time, since
// Stage's COPY holds the transaction's connection.

// derivation is one table's derived columns: the query that computes the
// new values of the rows that change, and the one that names the rows it
// could not decide.
type derivation struct {
	// with holds the extra CTEs the columns need, after "s" (the staged
	// rows) and "k" (every row after Apply with its live flag).
	with string
	// joins are the joins of the live rows u to those CTEs.
	joins string
	// columns maps a derived column to its new value.
	columns map[string]string
	// reads are the other columns the expressions read of u or m: k
	// carries only those and the derived ones, since it holds every row.
	reads []string
	// undecided is a condition on u (with the joins) that holds for rows
	// whose value needs a rule still unknown; "" when none can be.
	undecided string
	// args are the named arguments of with, joins, columns and undecided.
	args pgx.NamedArgs
}

// refArgs passes a listing as two arrays, ids and names, named prefix_ids
// and prefix_names, and whether it was read at all (prefix_read).
func refArgs(args pgx.NamedArgs, prefix string, refs []model.Reference) {
	ids, names := make([]int64, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		ids[i], names[i] = r.ID, r.Name
	}
	args[prefix+"_ids"], args[prefix+"_names"], args[prefix+"_read"] = ids, names, refs != nil
}

// refCTE is a CTE of a listing passed by refArgs.
func refCTE(name, prefix string) string {
	return fmt.Sprintf(", %[1]s AS (SELECT * FROM unnest(@%[2]s_ids::bigint[], @%[2]s_names::text[]) AS x(id, name))", name, prefix)
}

// renamed is the derived value of a name column shown from a listing: the
// listed name when the listing was read and holds the id, else the row's.
func renamed(cte, prefix, current string) string {
	return fmt.Sprintf("CASE WHEN @%s_read::boolean AND %s.id IS NOT NULL THEN nullif(%s.name, '') ELSE %s END", prefix, cte, cte, current)
}

// userDerivation derives a user's embedded names (department, location,
// company, manager), manages_users_count, manages_locations_count (from
// the locations listing's managers), assets_count (from the assets
// mirror, when facts say it is current) and the item counts (stored value
// plus the activity log's delta).
func userDerivation(f model.Facts) derivation {
	args := pgx.NamedArgs{
		"manager_rule": f.Traits.ManagerName, "assets_rule": f.Traits.AssetsCount, "assets_counts": f.AssetsCounts,
	}
	refArgs(args, "dep", f.Departments)
	refArgs(args, "loc", f.Locations)
	refArgs(args, "com", f.Companies)
	ids, lic, acc, con := []int64{}, []int32{}, []int32{}, []int32{}
	for id, d := range f.ItemDeltas {
		ids, lic, acc, con = append(ids, id), append(lic, d.Licenses), append(acc, d.Accessories), append(con, d.Consumables)
	}
	args["delta_ids"], args["delta_lic"], args["delta_acc"], args["delta_con"] = ids, lic, acc, con
	args["row_counts"] = nonNil(f.RowCounts)
	// The managers the locations listing shows, once per location.
	managers := []int64{}
	for _, l := range f.Locations {
		if l.ManagerID != nil {
			managers = append(managers, *l.ManagerID)
		}
	}
	args["loc_managers"] = managers
	// The manager's name under each rule: its display name, else its name
	// (Snipe-IT 8); its name (7.x).
	byDisplay, byName := "coalesce(m.display_name, m.name)", "m.name"
	// The stored count is looked up only for the few rows that need it.
	counts := func(col, delta string) string {
		return fmt.Sprintf(`CASE WHEN u.id = ANY(@row_counts::bigint[]) THEN u.%[1]s
			WHEN u.staged OR delta.id IS NOT NULL THEN
				coalesce((SELECT b.%[1]s FROM users b WHERE b.id = u.id AND b.deleted_at IS NULL), 0) + coalesce(delta.%[2]s, 0)
			ELSE u.%[1]s END`, col, delta)
	}
	return derivation{
		with: refCTE("dep", "dep") + refCTE("loc", "loc") + refCTE("com", "com") + `,
			delta AS (SELECT * FROM unnest(@delta_ids::bigint[], @delta_lic::int[], @delta_acc::int[], @delta_con::int[]) AS x(id, lic, acc, con)),
			mc AS (SELECT manager_id AS id, count(*) AS n FROM k WHERE live AND manager_id IS NOT NULL GROUP BY 1),
			lc AS (SELECT id, count(*) AS n FROM unnest(@loc_managers::bigint[]) AS x(id) GROUP BY 1),
			ac AS (SELECT assigned_user_id AS id, count(*) FILTER (WHERE deleted_at IS NULL) AS live_n,
			              count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted_n
			       FROM assets WHERE assigned_user_id IS NOT NULL AND @assets_counts::boolean GROUP BY 1)`,
		joins: `LEFT JOIN dep ON dep.id = u.department_id LEFT JOIN loc ON loc.id = u.location_id LEFT JOIN com ON com.id = u.company_id
			LEFT JOIN k m ON m.id = u.manager_id LEFT JOIN mc ON mc.id = u.id LEFT JOIN lc ON lc.id = u.id LEFT JOIN ac ON ac.id = u.id
			LEFT JOIN delta ON delta.id = u.id`,
		columns: map[string]string{
			"department_name": renamed("dep", "dep", "u.department_name"),
			"location_name":   renamed("loc", "loc", "u.location_name"),
			"company_name":    renamed("com", "com", "u.company_name"),
			"manager_name": fmt.Sprintf(`CASE WHEN m.id IS NULL THEN u.manager_name
				WHEN @manager_rule::text = 'display_name' OR %[1]s = %[2]s THEN %[1]s
				WHEN @manager_rule::text = 'name' THEN %[2]s
				ELSE u.manager_name END`, byDisplay, byName),
			"manages_users_count": "coalesce(mc.n, 0)::integer",
			// The locations that show the user as their manager. Users
			// are read incrementally only from Snipe-IT 7.1.14, whose
			// rows all carry the count (7.0 on).
			"manages_locations_count": "CASE WHEN @loc_read::boolean THEN coalesce(lc.n, 0)::integer ELSE u.manages_locations_count END",
			"assets_count": `CASE WHEN NOT @assets_counts::boolean THEN u.assets_count
				WHEN @assets_rule::text = 'live' OR coalesce(ac.deleted_n, 0) = 0 THEN coalesce(ac.live_n, 0)::integer
				WHEN @assets_rule::text = 'with_deleted' THEN (ac.live_n + ac.deleted_n)::integer
				ELSE u.assets_count END`,
			"licenses_count":    counts("licenses_count", "lic"),
			"accessories_count": counts("accessories_count", "acc"),
			"consumables_count": counts("consumables_count", "con"),
		},
		reads: []string{"department_id", "location_id", "company_id", "manager_id", "name", "display_name"},
		undecided: fmt.Sprintf(`(@manager_rule::text = '' AND m.id IS NOT NULL AND %[1]s <> %[2]s
				AND (m.staged OR u.manager_name IS DISTINCT FROM %[1]s AND u.manager_name IS DISTINCT FROM %[2]s))
			OR (@assets_counts::boolean AND @assets_rule::text = '' AND coalesce(ac.deleted_n, 0) > 0)`, byDisplay, byName),
		args: args,
	}
}

// assetDerivation derives an asset's names from the models (name, number,
// category, manufacturer), status labels (name, type and, unless checked
// out, status_meta), suppliers, companies and locations listings.
func assetDerivation(f model.Facts) derivation {
	args := pgx.NamedArgs{}
	refArgs(args, "sup", f.Suppliers)
	refArgs(args, "loc", f.Locations)
	refArgs(args, "com", f.Companies)
	n := len(f.Models)
	mids, mnames, mnumbers := make([]int64, n), make([]string, n), make([]string, n)
	cids, cnames, fids, fnames := make([]*int64, n), make([]string, n), make([]*int64, n), make([]string, n)
	for i, m := range f.Models {
		mids[i], mnames[i], mnumbers[i] = m.ID, m.Name, m.ModelNumber
		cids[i], cnames[i], fids[i], fnames[i] = m.CategoryID, m.CategoryName, m.ManufacturerID, m.ManufacturerName
	}
	args["mod_ids"], args["mod_names"], args["mod_numbers"] = mids, mnames, mnumbers
	args["mod_cat_ids"], args["mod_cat_names"], args["mod_man_ids"], args["mod_man_names"] = cids, cnames, fids, fnames
	args["mod_read"] = f.Models != nil
	n = len(f.StatusLabels)
	sids, snames, stypes := make([]int64, n), make([]string, n), make([]string, n)
	for i, l := range f.StatusLabels {
		sids[i], snames[i], stypes[i] = l.ID, l.Name, l.Type
	}
	args["sta_ids"], args["sta_names"], args["sta_types"], args["sta_read"] = sids, snames, stypes, f.StatusLabels != nil
	model := func(col string) string {
		return fmt.Sprintf("CASE WHEN @mod_read::boolean AND mo.id IS NOT NULL THEN mo.%s ELSE u.%s END", col, col)
	}
	status := func(col string) string {
		return fmt.Sprintf("CASE WHEN @sta_read::boolean AND st.id IS NOT NULL THEN nullif(st.%s, '') ELSE u.%s END", col, col)
	}
	return derivation{
		with: refCTE("sup", "sup") + refCTE("loc", "loc") + refCTE("com", "com") + `,
			mo AS (SELECT x.id, nullif(x.model_name, '') AS model_name, nullif(x.model_number, '') AS model_number,
			              x.category_id, nullif(x.category_name, '') AS category_name,
			              x.manufacturer_id, nullif(x.manufacturer_name, '') AS manufacturer_name
			       FROM unnest(@mod_ids::bigint[], @mod_names::text[], @mod_numbers::text[], @mod_cat_ids::bigint[], @mod_cat_names::text[],
			                   @mod_man_ids::bigint[], @mod_man_names::text[])
			            AS x(id, model_name, model_number, category_id, category_name, manufacturer_id, manufacturer_name)),
			st AS (SELECT * FROM unnest(@sta_ids::bigint[], @sta_names::text[], @sta_types::text[]) AS x(id, status_name, status_type))`,
		joins: `LEFT JOIN sup ON sup.id = u.supplier_id LEFT JOIN loc ON loc.id = u.location_id
			LEFT JOIN loc rtd ON rtd.id = u.rtd_location_id LEFT JOIN com ON com.id = u.company_id
			LEFT JOIN mo ON mo.id = u.model_id LEFT JOIN st ON st.id = u.status_id`,
		columns: map[string]string{
			"model_name":        model("model_name"),
			"model_number":      model("model_number"),
			"category_id":       model("category_id"),
			"category_name":     model("category_name"),
			"manufacturer_id":   model("manufacturer_id"),
			"manufacturer_name": model("manufacturer_name"),
			"status_name":       status("status_name"),
			"status_type":       status("status_type"),
			// "deployed" while checked out, else the label's type.
			"status_meta": `CASE WHEN NOT @sta_read::boolean OR st.id IS NULL THEN u.status_meta
				WHEN u.assigned_to_id IS NOT NULL THEN 'deployed' ELSE nullif(st.status_type, '') END`,
			"supplier_name":     renamed("sup", "sup", "u.supplier_name"),
			"company_name":      renamed("com", "com", "u.company_name"),
			"location_name":     renamed("loc", "loc", "u.location_name"),
			"rtd_location_name": renamed("rtd", "loc", "u.rtd_location_name"),
		},
		reads: []string{"supplier_id", "location_id", "rtd_location_id", "company_id", "model_id", "status_id", "assigned_to_id"},
		args:  args,
	}
}

// prefixed is cols with each name prefixed.
func prefixed(cols []string, prefix string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = prefix + c
	}
	return strings.Join(out, ", ")
}

// deriveBatch is how many derived rows are staged at a time.
const deriveBatch = 5000

// Derive stages the live rows whose derived columns differ from what
// facts say (see model.MirrorTx).
func (m *mirrorTx[T]) Derive(ctx context.Context, facts model.Facts, deleted []int64) (int64, []int64, error) {
	t := m.table
	if err := m.requireStaged("derive"); err != nil {
		return 0, nil, err
	}
	d := t.derive(facts)
	d.args["deleted"] = nonNil(deleted)
	var cols []string
	for _, c := range t.columns {
		cols = append(cols, c.name)
	}
	// k: every row as it will be after Apply — the columns the
	// derivation reads, whether it is live, whether it was staged.
	kcols := []string{"id"}
	for _, c := range cols {
		if _, derived := d.columns[c]; derived || slices.Contains(d.reads, c) {
			kcols = append(kcols, c)
		}
	}
	// With facts.Only, k still carries every column the conditions read,
	// but only those columns are derived.
	if facts.Only != nil {
		for c := range d.columns {
			if !slices.Contains(facts.Only, c) {
				delete(d.columns, c)
			}
		}
	}
	k := fmt.Sprintf(`WITH s AS (SELECT * FROM %[1]s WHERE NOT unchanged),
		k AS (SELECT %[2]s, true AS live, true AS staged FROM s
		      UNION ALL
		      SELECT %[3]s, t.deleted_at IS NULL AND t.id <> ALL(@deleted::bigint[]), false FROM %[4]s t
		      WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.id = t.id))%[5]s`,
		stageName(t), prefixed(kcols, "s."), prefixed(kcols, "t."), t.name, d.with)

	var undecided []int64
	if d.undecided != "" {
		var err error
		undecided, err = queryIDs(ctx, m.tx, fmt.Sprintf("%s SELECT u.id FROM k u %s WHERE u.live AND (%s) ORDER BY u.id",
			k, d.joins, d.undecided), d.args)
		if err != nil {
			return 0, nil, fmt.Errorf("find the %s a rule is needed for: %w", t.name, err)
		}
	}

	// The rows that change: first their ids and derived columns, then —
	// with those counted, so that the planner looks the few rows up by
	// their key — whole, the other columns from the staged row or the
	// mirror's.
	var dcols []string
	for _, c := range cols {
		if _, ok := d.columns[c]; ok {
			dcols = append(dcols, c)
		}
	}
	changed, derived := "derive_"+t.name+"_ids", "derive_"+t.name
	if _, err := m.tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %[1]s ON COMMIT DROP AS SELECT id, %[2]s FROM %[3]s WITH NO DATA;
		CREATE TEMP TABLE IF NOT EXISTS %[4]s ON COMMIT DROP AS SELECT %[5]s FROM %[3]s WITH NO DATA;
		TRUNCATE %[1]s, %[4]s`, changed, strings.Join(dcols, ", "), t.name, derived, strings.Join(cols, ", "))); err != nil {
		return 0, undecided, classify(fmt.Errorf("create the derived %s tables: %w", t.name, err))
	}
	sel, now, was := []string{"u.id"}, []string{}, []string{}
	for _, c := range dcols {
		expr := d.columns[c]
		sel = append(sel, expr)
		now = append(now, fmt.Sprintf("(%s)", expr))
		was = append(was, "u."+c)
	}
	tag, err := m.tx.Exec(ctx, fmt.Sprintf(`%s
		INSERT INTO %s (id, %s) SELECT %s FROM k u %s WHERE u.live AND (%s) IS DISTINCT FROM (%s)`,
		k, changed, strings.Join(dcols, ", "), strings.Join(sel, ", "), d.joins, strings.Join(now, ", "), strings.Join(was, ", ")), d.args)
	if err != nil {
		return 0, undecided, classify(fmt.Errorf("derive %s: %w", t.name, err))
	}
	if tag.RowsAffected() == 0 {
		return 0, undecided, nil
	}
	var whole []string
	for _, c := range cols {
		if _, ok := d.columns[c]; ok {
			whole = append(whole, "n."+c)
		} else {
			whole = append(whole, fmt.Sprintf("CASE WHEN s.id IS NOT NULL THEN s.%[1]s ELSE t.%[1]s END", c))
		}
	}
	q := fmt.Sprintf(`ANALYZE %[1]s;
		INSERT INTO %[2]s (%[3]s)
		SELECT %[4]s FROM %[1]s n LEFT JOIN %[5]s s ON s.id = n.id AND NOT s.unchanged LEFT JOIN %[6]s t ON t.id = n.id`,
		changed, derived, strings.Join(cols, ", "), strings.Join(whole, ", "), stageName(t), t.name)
	if _, err := m.tx.Exec(ctx, q); err != nil {
		return 0, undecided, classify(fmt.Errorf("derive %s: %w", t.name, err))
	}
	// Staged a batch at a time, by id, settled once at the end.
	var last int64 = -1 << 63
	var staged int64
	for {
		rows, err := m.tx.Query(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE id > $1 ORDER BY id LIMIT %d", strings.Join(cols, ", "), derived, deriveBatch), last)
		if err != nil {
			return staged, undecided, classify(fmt.Errorf("read derived %s: %w", t.name, err))
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
			var row T
			targets := make([]any, len(t.columns))
			for i, c := range t.columns {
				targets[i] = c.scan(&row)
			}
			return row, r.Scan(targets...)
		})
		if err != nil {
			return staged, undecided, classify(fmt.Errorf("read derived %s: %w", t.name, err))
		}
		if len(batch) == 0 {
			return staged, undecided, m.settle(ctx, true)
		}
		last = t.id(&batch[len(batch)-1])
		if _, err := m.copyIn(ctx, func(context.Context) iter.Seq2[*T, error] { return sliceSeq(batch) }); err != nil {
			return staged, undecided, err
		}
		staged += int64(len(batch))
	}
}

func sliceSeq[T any](rows []T) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for i := range rows {
			if !yield(&rows[i], nil) {
				return
			}
		}
	}
}

// Evidence counts the staged rows (fresh from Snipe-IT) that fit only one
// of the server's rules (see model.Evidence).
func (m *mirrorTx[T]) Evidence(ctx context.Context, assets bool) (model.Evidence, error) {
	var e model.Evidence
	if m.table.name != usersTable.name {
		return e, nil
	}
	if err := m.requireStaged("read the evidence of"); err != nil {
		return e, err
	}
	// Each staged row's manager as it will be (staged, or the mirror's),
	// and its assets, looked up by key: few rows are staged but in a full
	// run.
	err := m.tx.QueryRow(ctx, fmt.Sprintf(`
		WITH s AS (SELECT * FROM %[1]s WHERE NOT unchanged),
		u AS (SELECT s.id, s.manager_name, s.assets_count,
		             CASE WHEN ms.id IS NOT NULL THEN ms.name ELSE mt.name END AS m_name,
		             CASE WHEN ms.id IS NOT NULL THEN ms.display_name ELSE mt.display_name END AS m_display
		      FROM s LEFT JOIN s ms ON ms.id = s.manager_id LEFT JOIN users mt ON mt.id = s.manager_id)
		SELECT count(*) FILTER (WHERE u.manager_name = u.m_display AND u.m_display <> u.m_name),
		       count(*) FILTER (WHERE u.manager_name = u.m_name AND u.m_display <> u.m_name),
		       count(*) FILTER (WHERE ac.deleted_n > 0 AND u.assets_count = ac.live_n),
		       count(*) FILTER (WHERE ac.deleted_n > 0 AND u.assets_count = ac.live_n + ac.deleted_n)
		FROM u LEFT JOIN LATERAL (
		    SELECT count(*) FILTER (WHERE a.deleted_at IS NULL) AS live_n, count(*) FILTER (WHERE a.deleted_at IS NOT NULL) AS deleted_n
		    FROM assets a WHERE a.assigned_user_id = u.id AND $1) ac ON true`, stageName(m.table)), assets).Scan(
		&e.ManagerByDisplayName, &e.ManagerByName, &e.AssetsCountLive, &e.AssetsCountDeleted)
	if err != nil {
		return e, classify(fmt.Errorf("read the evidence of the staged %s: %w", m.table.name, err))
	}
	return e, nil
}
