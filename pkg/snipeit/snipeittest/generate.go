package snipeittest

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GenerateConfig sizes and seeds a generated data set.
type GenerateConfig struct {
	// Users and Assets are the numbers of records, soft-deleted ones
	// included. User 1 is always "Admin Fakeuser", a superuser.
	Users  int
	Assets int
	// Seed makes the data: the same config always gives the same data.
	Seed uint64
	// DeletedUsers and DeletedAssets are how many records are
	// soft-deleted: 0 picks 4 %, a negative number none.
	DeletedUsers  int
	DeletedAssets int
	// ArchivedFraction is the share of live assets with an archived status
	// label: 0 picks 5 %, a negative number none.
	ArchivedFraction float64
	// Now is the generator's "today": every date lies before it. Default
	// 2025-11-01 09:00 UTC, so data does not depend on the wall clock.
	Now time.Time
}

// generatedAppURL is the base of generated avatar and image URLs, the
// default Config.AppURL.
const generatedAppURL = "https://snipeit.example.test"

// archivedLabel and readyLabel are the generated status labels that
// ArchiveAsset and UnarchiveAsset set.
func archivedLabel() StatusLabel { return StatusLabel{ID: 3, Name: "Archived", Type: StatusArchived} }
func readyLabel() StatusLabel {
	return StatusLabel{ID: 2, Name: "Ready to Deploy", Type: StatusDeployable}
}

// Generate builds a deterministic, varied data set: ids with gaps; names
// with &, quotes, <b>, accents, ß and CJK; empty optional fields; users
// without department, location, manager or company, with several
// companies, with and without groups; assets of several models with and
// without custom fields, checked out to users, locations and other assets,
// archived, with costs above 1,000; soft-deleted users and assets; many
// ties on the default sort keys (first_name, created_at).
func Generate(cfg GenerateConfig) *Dataset {
	if cfg.Now.IsZero() {
		cfg.Now = time.Date(2025, time.November, 1, 9, 0, 0, 0, time.UTC)
	}
	g := &generator{
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed5eed5eed5eed)),
		now:      cfg.Now.UTC().Truncate(time.Second),
		holdings: map[int64][3]int{},

		locationManagers: map[int64]int64{},
	}
	g.pools()
	ds := &Dataset{}
	ds.Users = g.users(cfg.Users, share(cfg.DeletedUsers, cfg.Users))
	ds.LocationManagers = g.locationManagers
	ds.Licenses, ds.Accessories, ds.Consumables = g.items(ds.Users)
	archived := cfg.ArchivedFraction
	switch {
	case archived == 0:
		archived = 0.05
	case archived < 0:
		archived = 0
	}
	ds.Assets = g.assets(cfg.Assets, share(cfg.DeletedAssets, cfg.Assets), archived, ds.Users)
	return ds
}

// share resolves a "how many deleted" setting: 0 is 4 % of n.
func share(setting, n int) int {
	switch {
	case setting < 0:
		return 0
	case setting == 0:
		return n / 25
	}
	return min(setting, n)
}

// generator holds the random source and the related-record pools of one
// Generate call.
type generator struct {
	rng *rand.Rand
	now time.Time

	firstNames, lastNames, jobTitles, cities, countries, notes []string
	departments                                                []*Department
	locations, companies, suppliers                            []*Tagged
	groups                                                     []Ref
	models                                                     []generatedModel
	statuses                                                   []StatusLabel
	admin                                                      *Ref
	// holdings are how many license seats, accessories and consumables
	// each generated user holds, by user id.
	holdings map[int64][3]int
	// locationManagers are the locations' managers, by location id: each
	// a user at the location.
	locationManagers map[int64]int64
}

// generatedModel is an asset model plus what the generator derives from it.
type generatedModel struct {
	model     *AssetModel
	prefix    string // asset tag prefix
	eolMonths int
	cents     [2]int64 // purchase cost range
	fields    []CustomField
}

func (g *generator) pools() {
	g.firstNames = []string{"Zed", "Yara", "Manny", "Émile", "José", "Zoë", "Björn", "Łukasz", "Søren", "Ngozi",
		"Priya", "Chen", "Ana", "John", "Mary", "Ahmed", "Fatima", "Hiroshi", "Yuki", "Olga", "Dmitri", "Siobhán",
		"Renée", "François", "Jürgen", "D'Arcy", `Jean "JJ"`, "<b>Bold</b>", "Mary-Kate", "Tom & Jerry", "太郎",
		"花子", "Иван", "Lars", "Ingrid", "Kwame", "Aroha", "Mateo", "Lucía", "Noah", "Emma", "Liam", "Olivia",
		"Grüße", "Ólafur", "Nguyễn", "Aiko", "Samir", "Leïla", "Kai"}
	g.lastNames = []string{"O'Fakename", "Placeholder", "O'Brien", "D'Angelo", "Müller", "Weiß", "Großmann",
		"Smith & Wesson", "山田", "田中", "García", "Johnson", "Brown", "Kowalski", "<i>Italic</i>", "Dupont",
		"Ødegaard", "Ivanova", "Tanaka", "Okafor", "Sørensen", `"Quoted"`, "van der Berg", "Lee", "Straße",
		"Nakamura", "Fernández", "Łęcki", "Schmidt", "Nguyen", "MacDonald", "Ó Súilleabháin", ""}
	g.jobTitles = []string{"Test Data Engineer", "R&D Engineer", "Head of <Ops>", "Sales & Marketing Lead",
		"Développeur", "Accountant", "IT Support", "Chief \"Everything\" Officer", "Designer", "Lagerist",
		"エンジニア", "Intern", "Manager's Assistant"}
	g.cities = []string{"Exampleville", "München", "Zürich", "São Paulo", "東京", "Köln", "Reykjavík", "Springfield"}
	g.countries = []string{"United States", "Germany", "Switzerland", "Brazil", "Japan", "Iceland", "Côte d'Ivoire"}
	g.notes = []string{"Imported by the *fixture* script", "Needs **new** laptop & dock",
		`Prefers "quiet" desk <window side>`, "Übernommen von *Altsystem*", "Keyboard replaced under **fake** warranty",
		"Contractor's badge #42", "日本語のメモ"}

	tagged := func(id int64, name, color string) *Tagged { return &Tagged{ID: id, Name: name, TagColor: color} }
	for _, d := range []*Tagged{tagged(3, "R&D (Fake)", ""), tagged(4, "Sales & Marketing", "#f39c12"),
		tagged(5, "Finance", ""), tagged(7, "IT – Infrastructure", "#3c8dbc"), tagged(8, "Human Resources", ""),
		tagged(11, `Legal "Counsel"`, ""), tagged(12, "Production", ""), tagged(13, "Customer <Support>", "#00a65a"),
		tagged(17, "Forschung & Entwicklung", ""), tagged(18, "営業部", ""), tagged(21, "Facilities", "")} {
		g.departments = append(g.departments, &Department{Tagged: *d})
	}
	g.locations = []*Tagged{tagged(5, "Fake HQ - Floor 2", "#3c8dbc"), tagged(9, "Fake IT Store Room", ""),
		tagged(10, "München – Büro", ""), tagged(14, "Tokyo 東京", "#dd4b39"), tagged(15, "O'Hare Warehouse", ""),
		tagged(16, "Lab <B>", ""), tagged(20, "São Paulo", ""), tagged(22, "Remote & Home Office", ""),
		tagged(23, "Zürich Süd", "")}
	g.companies = []*Tagged{tagged(1, "Fakeco Ltd", ""), tagged(2, "Acme & Sons", "#605ca8"),
		tagged(4, "Société Générale de Test", ""), tagged(6, "O'Reilly Holdings", ""), tagged(7, "日本テスト株式会社", "")}
	g.suppliers = []*Tagged{tagged(4, "Placeholder Supplies & Co", ""), tagged(5, "Fake Distributors", ""),
		tagged(8, "Büro-Bedarf GmbH", ""), tagged(9, "O'Connor IT", "")}
	g.groups = []Ref{{2, "Fake Staff"}, {3, "Admins & Ops"}, {5, "IT <Support>"}, {6, "Ünicode Gruppe"}, {8, "Contractors"}}
	g.admin = &Ref{ID: 1, Name: "Admin Fakeuser"}
	g.statuses = []StatusLabel{{1, "Pending", StatusPending}, readyLabel(), archivedLabel(),
		{4, "Out for Repair", StatusUndeployable}, {5, "Broken – Not Fixable", StatusUndeployable},
		{6, "Lost/Stolen", StatusArchived}}

	laptops, monitors, phones := tagged(3, "Laptops", ""), tagged(7, "Monitors", ""), tagged(8, "Mobile Phones", "#f012be")
	desktops, docks := tagged(2, "Desktops", ""), tagged(9, "Docks & Hubs", "")
	example, fakeGmbH := tagged(6, "Example Devices Inc.", ""), tagged(10, "Fake & Co. GmbH", "")
	umlaut, japanese := tagged(11, "ÄÖÜ Electronics", ""), tagged(12, "サンプル電機", "")
	threeYears := &Depreciation{ID: 1, Name: "Fake 3-year straight line", Months: 36, Type: "amount"}
	fiveYears := &Depreciation{ID: 2, Name: "5 years <with floor>", Months: 60, Type: "amount", Minimum: ptr(100)}
	mac := CustomField{Name: "MAC Address", Field: "_snipeit_mac_address_1", Format: "MAC", Element: "text"}
	ram := CustomField{Name: "RAM", Field: "_snipeit_ram_2", Format: "ANY", Element: "text"}
	imei := CustomField{Name: "IMEI", Field: "_snipeit_imei_3", Format: "NUMERIC", Element: "text"}
	plan := CustomField{Name: "Carrier & Plan", Field: "_snipeit_carrier_plan_4", Format: "ANY", Element: "listbox"}
	poDate := CustomField{Name: "PO Date", Field: "_snipeit_po_date_5", Format: "DATE", Element: "text"}
	model := func(id int64, name, number, image string, cat, mfr *Tagged, dep *Depreciation) *AssetModel {
		if image != "" {
			image = generatedAppURL + "/uploads/models/" + image
		}
		return &AssetModel{ID: id, Name: name, ModelNumber: number, Image: image, Category: cat, Manufacturer: mfr, Depreciation: dep}
	}
	g.models = []generatedModel{
		{model(14, "Exampletop 14 (Fake)", "EX-14-FAKE", "exampletop-14-fake.png", laptops, example, threeYears), "LT-", 36, [2]int64{89900, 289900}, []CustomField{mac, ram}},
		{model(15, "Fakebook Pro 16\"", "FB-16", "", laptops, fakeGmbH, threeYears), "LT-", 48, [2]int64{149900, 399900}, []CustomField{mac, ram}},
		{model(21, "Sampleview 27 (Fake)", "", "", monitors, nil, nil), "MON-", 60, [2]int64{14900, 129900}, nil},
		{model(22, "Bildschirm 32\" Über", "BS-32", "bs32.png", monitors, umlaut, fiveYears), "MON-", 60, [2]int64{39900, 159900}, nil},
		{model(30, "Phony X", "PX-1", "", phones, japanese, threeYears), "PH-", 24, [2]int64{29900, 149900}, []CustomField{imei, plan}},
		{model(31, "Desk Tower & More", "DT-9", "", desktops, example, fiveYears), "DT-", 60, [2]int64{79900, 249900}, []CustomField{mac, poDate}},
		{model(40, "Dock <USB-C>", "", "", docks, fakeGmbH, nil), "DK-", 36, [2]int64{9900, 34900}, []CustomField{}},
	}
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func pick[T any](g *generator, s []T) T { return s[g.rng.IntN(len(s))] }

// maybe returns s with probability p, else "".
func (g *generator) maybe(p float64, s string) string {
	if g.chance(p) {
		return s
	}
	return ""
}

// before returns a second-precision time up to span before t.
func (g *generator) before(t time.Time, span time.Duration) time.Time {
	return t.Add(-time.Duration(g.rng.Int64N(int64(span/time.Second)+1)) * time.Second)
}

// between returns a second-precision time in [from, to].
func (g *generator) between(from, to time.Time) time.Time {
	if !to.After(from) {
		return from
	}
	return from.Add(time.Duration(g.rng.Int64N(int64(to.Sub(from)/time.Second)+1)) * time.Second)
}

// nextID steps ids forward with occasional gaps, as deletions leave them.
func (g *generator) nextID(id int64) int64 {
	if g.chance(0.15) {
		return id + 2 + g.rng.Int64N(4)
	}
	return id + 1
}

const year = 365 * 24 * time.Hour

// items makes the licenses, accessories and consumables and checks them out
// to users as holdings says: seats of distinct licenses, some free seats
// and stock left for checkouts.
func (g *generator) items(users []User) ([]License, []Accessory, []Consumable) {
	licenses := []License{{ID: 1, Name: "Office 365 E3", Serial: "FAKE-O365-0001"}, {ID: 2, Name: "Adobe CC & Acrobat"},
		{ID: 3, Name: "JetBrains <All Products>"}, {ID: 4, Name: "Zoom Pro"}, {ID: 5, Name: "Ünicode Editor"},
		{ID: 7, Name: "VPN \"Road Warrior\""}}
	accessories := []Accessory{{ID: 1, Name: "USB-C Dock"}, {ID: 2, Name: "Headset & Mic"}, {ID: 4, Name: "Tastatur (DE)"}}
	consumables := []Consumable{{ID: 1, Name: "Toner <Black>"}, {ID: 2, Name: "HDMI Cable 2m"}, {ID: 3, Name: "Notebook A5"},
		{ID: 5, Name: "Batteries AA"}}
	for i := range users {
		id := users[i].ID
		h := g.holdings[id]
		for j := range h[0] {
			l := &licenses[(int(id)+j)%len(licenses)]
			l.Seats = append(l.Seats, id)
		}
		for j := range h[1] {
			a := &accessories[(int(id)+j)%len(accessories)]
			a.Checkouts = append(a.Checkouts, id)
		}
		for j := range h[2] {
			c := &consumables[(int(id)+j)%len(consumables)]
			c.Checkouts = append(c.Checkouts, id)
		}
	}
	for i := range licenses {
		licenses[i].Seats = append(licenses[i].Seats, make([]int64, 5)...)
	}
	for i := range accessories {
		accessories[i].Qty = len(accessories[i].Checkouts) + 10
	}
	for i := range consumables {
		consumables[i].Qty = len(consumables[i].Checkouts) + 50
	}
	return licenses, accessories, consumables
}

func (g *generator) users(n, deleted int) []User {
	users := make([]User, 0, n)
	var id int64
	for i := range n {
		id = g.nextID(id)
		if i == 0 {
			id = 1
			users = append(users, g.adminUser())
			continue
		}
		users = append(users, g.user(id, users))
	}
	// Departments are managed by early users, by then generated.
	for i, d := range g.departments {
		if len(users) > 1 && i%3 != 2 {
			m := &users[1+(i*7)%(len(users)-1)]
			d.Manager = &Ref{ID: m.ID, Name: fullName(m, Version86)}
		}
	}
	for _, i := range g.rng.Perm(max(n-1, 0))[:max(min(deleted, n-1), 0)] {
		u := &users[i+1]
		u.DeletedAt = g.between(u.UpdatedAt, g.now)
		u.UpdatedAt = u.DeletedAt
	}
	return users
}

func (g *generator) adminUser() User {
	created := g.now.Add(-6 * year)
	return User{ID: 1, FirstName: "Admin", LastName: "Fakeuser", Username: "admin", Email: "admin@example.test",
		Permissions: []Permission{{"superuser", 1}}, Activated: true, Locale: "en-US",
		Companies: []Tagged{*g.companies[0]}, CreatedAt: created, UpdatedAt: g.between(created, g.now),
		LastLogin: g.before(g.now, 24*time.Hour), Groups: []Ref{g.groups[1]}}
}

func (g *generator) user(id int64, earlier []User) User {
	first, last := pick(g, g.firstNames), pick(g, g.lastNames)
	created := g.before(g.now.Add(-24*time.Hour), 6*year)
	u := User{
		ID:                 id,
		FirstName:          first,
		LastName:           last,
		Username:           username(first, last, id),
		Remote:             g.chance(0.2),
		Locale:             g.maybe(0.7, pick(g, []string{"en-US", "en-US", "de-DE", "ja-JP", "fr-FR"})),
		EmployeeNum:        g.maybe(0.8, "EMP-"+pad(id, 6)),
		JobTitle:           g.maybe(0.85, pick(g, g.jobTitles)),
		VIP:                g.chance(0.05),
		Phone:              g.maybe(0.6, "+1-555-01"+pad(id%100, 2)),
		Mobile:             g.maybe(0.3, "+49 170 "+pad(id%10_000_000, 7)),
		Website:            g.maybe(0.05, "https://example.test/~"+strconv.FormatInt(id, 10)),
		Activated:          g.chance(0.9),
		AutoassignLicenses: g.chance(0.7),
		LDAPImport:         g.chance(0.3),
		TwoFactorEnrolled:  g.chance(0.2),
		TwoFactorOptin:     g.chance(0.1),
	}
	// Drawn here, in this order, so that the rest of a user stays what the
	// seed always made; items() turns them into checkouts.
	g.holdings[id] = [3]int{g.rng.IntN(4), g.rng.IntN(3), g.rng.IntN(5)}
	u.CreatedAt, u.UpdatedAt = created, g.between(created, g.now)
	if g.chance(0.1) {
		u.DisplayName = first + " (" + strings.ToUpper(username(first, "", 0)) + ")"
	}
	if g.chance(0.3) {
		u.Avatar = generatedAppURL + "/uploads/avatars/fake-avatar-" + strconv.FormatInt(id, 10) + ".png"
	}
	if g.chance(0.9) {
		u.Email = strings.ReplaceAll(u.Username, "'", "") + "@example.test"
	}
	if g.chance(0.6) && len(earlier) > 1 {
		u.ManagerID = earlier[g.rng.IntN(len(earlier))].ID
	}
	if g.chance(0.5) {
		u.Address = strconv.FormatInt(1+id%200, 10) + " Example Street"
		u.City, u.Country = pick(g, g.cities), pick(g, g.countries)
		u.State = g.maybe(0.5, "EX")
		u.Zip = g.maybe(0.8, pad(id%100000, 5))
	}
	if g.chance(0.8) {
		u.Department = pick(g, g.departments)
	}
	if g.chance(0.75) {
		u.Location = pick(g, g.locations)
	}
	u.Notes = g.maybe(0.15, pick(g, g.notes))
	switch r := g.rng.Float64(); {
	case r < 0.01:
		u.Permissions = []Permission{{"superuser", 1}}
	case r < 0.04:
		u.Permissions = []Permission{{"admin", 1}, {"users.view", 1}}
	case r < 0.15:
		u.Permissions = []Permission{{"assets.view", 1}, {"users.view", 0}}
	}
	if g.chance(0.02) && u.Location != nil {
		g.locationManagers[u.Location.ID] = id // a later user may take it over
	}
	if g.chance(0.05) {
		u.AssignedMaintenancesCount = 1 + g.rng.IntN(3)
	}
	switch r := g.rng.Float64(); {
	case r < 0.7:
		u.Companies = []Tagged{*pick(g, g.companies)}
	case r < 0.85:
		a, b := g.rng.IntN(len(g.companies)), g.rng.IntN(len(g.companies)-1)
		if b >= a {
			b++
		}
		u.Companies = []Tagged{*g.companies[a], *g.companies[b]}
	}
	if g.chance(0.7) {
		u.CreatedBy = g.admin
	}
	if g.chance(0.7) {
		u.LastLogin = g.between(created, g.now)
	}
	if g.chance(0.5) {
		u.StartDate = civil(g.between(created, created.Add(30*24*time.Hour)))
		if g.chance(0.1) {
			u.EndDate = civil(g.between(u.StartDate, g.now.Add(year)))
		}
	}
	if g.chance(0.6) {
		for _, i := range g.rng.Perm(len(g.groups))[:1+g.rng.IntN(3)] {
			u.Groups = append(u.Groups, g.groups[i])
		}
	}
	return u
}

// username is a plausible login name: first.last plus the id, ASCII
// letters and apostrophes only.
func username(first, last string, id int64) string {
	var b strings.Builder
	for _, part := range []string{first, last} {
		if b.Len() > 0 && part != "" {
			b.WriteByte('.')
		}
		for _, r := range strings.ToLower(part) {
			if (r >= 'a' && r <= 'z') || r == '\'' {
				b.WriteRune(r)
			}
		}
	}
	if b.Len() == 0 || strings.HasSuffix(b.String(), ".") {
		b.WriteString("user")
	}
	if id > 0 {
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

// pad is n in decimal with leading zeros to width digits.
func pad(n int64, width int) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

func (g *generator) assets(n, deleted int, archivedShare float64, users []User) []Asset {
	var liveUsers []int64
	for i := range users {
		if users[i].DeletedAt.IsZero() {
			liveUsers = append(liveUsers, users[i].ID)
		}
	}
	assets := make([]Asset, 0, n)
	var id int64 = 900
	var created time.Time
	for range n {
		id = g.nextID(id)
		// A third of the assets arrive in bulk imports that share a
		// created_at: /hardware's default sort then has ties.
		if created.IsZero() || !g.chance(0.35) {
			created = g.before(g.now.Add(-time.Hour), 5*year)
		}
		assets = append(assets, g.asset(id, created, archivedShare, liveUsers, assets))
	}
	for _, i := range g.rng.Perm(n)[:min(deleted, n)] {
		a := &assets[i]
		// Snipe-IT deletes only checked-in assets.
		a.AssignedTo, a.ExpectedCheckin = nil, time.Time{}
		a.DeletedAt = g.between(a.UpdatedAt, g.now)
		a.UpdatedAt = a.DeletedAt
	}
	return assets
}

func (g *generator) asset(id int64, created time.Time, archivedShare float64, liveUsers []int64, earlier []Asset) Asset {
	gm := pick(g, g.models)
	label := g.status(archivedShare)
	a := Asset{
		ID:              id,
		AssetTag:        gm.prefix + pad(id, 6),
		Serial:          g.maybe(0.85, g.serial()),
		Model:           gm.model,
		Byod:            g.chance(0.05),
		Requestable:     g.chance(0.15),
		Status:          &label,
		OrderNumber:     g.maybe(0.5, "PO-FAKE-"+strconv.Itoa(2019+g.rng.IntN(7))+"-"+pad(id%1000, 3)),
		CreatedAt:       created,
		UpdatedAt:       g.between(created, g.now),
		CheckinCounter:  g.rng.IntN(3),
		RequestsCounter: g.rng.IntN(2),
	}
	switch r := g.rng.Float64(); {
	case r < 0.55:
		a.Name = strings.TrimSuffix(gm.prefix, "-") + "-" + pad(id, 4)
	case r < 0.65:
		a.Name = pick(g, []string{"Bob's laptop", "Präsentation <Raum 1>", "Spare & loaner", `The "good" one`, "受付用"})
	}
	if g.chance(0.6) {
		a.Supplier = pick(g, g.suppliers)
	}
	if g.chance(0.7) {
		a.Company = pick(g, g.companies)
	}
	if g.chance(0.85) {
		a.RTDLocation = pick(g, g.locations)
	}
	if g.chance(0.8) {
		a.Location = pick(g, g.locations)
	}
	if g.chance(0.1) {
		a.Image = generatedAppURL + "/uploads/assets/asset-" + strconv.FormatInt(id, 10) + ".jpg"
	}
	a.Notes = g.maybe(0.1, pick(g, g.notes))
	if g.chance(0.85) {
		a.PurchaseDate = civil(g.before(created, 60*24*time.Hour))
		a.EOLDate = a.PurchaseDate.AddDate(0, gm.eolMonths, 0)
		if g.chance(0.7) {
			a.WarrantyMonths = pick(g, []int{12, 24, 36})
		}
	}
	if g.chance(0.9) {
		cents := gm.cents[0] + g.rng.Int64N(gm.cents[1]-gm.cents[0]+1)
		a.PurchaseCost = &cents
	}
	if g.chance(0.4) {
		a.LastAuditDate = g.between(created, g.now)
		a.NextAuditDate = civil(a.LastAuditDate.AddDate(1, 0, 0))
	}
	if g.chance(0.3) {
		a.LastCheckin = g.between(created, g.now)
	}
	if g.chance(0.7) {
		a.CreatedBy = g.admin
	}
	a.CustomFields = g.customFields(gm.fields, id)
	if label.Type == StatusDeployable && g.chance(0.65) {
		g.checkOut(&a, liveUsers, earlier)
	}
	return a
}

// status picks a status label: archivedShare of them archived, the rest
// mostly deployable.
func (g *generator) status(archivedShare float64) StatusLabel {
	if g.chance(archivedShare) {
		return pick(g, []StatusLabel{g.statuses[2], g.statuses[5]})
	}
	switch r := g.rng.Float64(); {
	case r < 0.08:
		return g.statuses[0]
	case r < 0.25:
		return pick(g, []StatusLabel{g.statuses[3], g.statuses[4]})
	}
	return g.statuses[1]
}

// checkOut assigns a to a live user (mostly), a location or an earlier
// asset that is itself in service.
func (g *generator) checkOut(a *Asset, liveUsers []int64, earlier []Asset) {
	switch r := g.rng.Float64(); {
	case r < 0.85 && len(liveUsers) > 0:
		a.AssignedTo = &Assignment{Type: AssignedUser, ID: pick(g, liveUsers)}
	case r < 0.95:
		l := pick(g, g.locations)
		a.AssignedTo = &Assignment{Type: AssignedLocation, ID: l.ID, Name: l.Name}
		a.Location = l
	default:
		for range 3 {
			if len(earlier) == 0 {
				break
			}
			if parent := &earlier[g.rng.IntN(len(earlier))]; parent.AssignedTo == nil && !parent.archived() {
				a.AssignedTo = &Assignment{Type: AssignedAsset, ID: parent.ID}
				break
			}
		}
	}
	if a.AssignedTo == nil {
		return
	}
	a.LastCheckout = g.between(a.CreatedAt, g.now)
	a.CheckoutCounter = 1 + g.rng.IntN(4)
	if g.chance(0.1) {
		a.ExpectedCheckin = civil(a.LastCheckout.AddDate(0, 3, 0))
	}
}

func (g *generator) serial() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
	b := make([]byte, 12)
	for i := range b {
		b[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	return string(b)
}

// customFields fills a model's fieldset with values, some of them empty.
func (g *generator) customFields(fields []CustomField, id int64) []CustomField {
	out := slices.Clone(fields)
	for i := range out {
		f := &out[i]
		switch f.Format {
		case "MAC":
			f.Value = g.maybe(0.9, "00:00:5E:00:"+hex2(id>>8)+":"+hex2(id))
		case "DATE":
			f.Value = g.maybe(0.8, civil(g.before(g.now, 3*year)).Format(time.DateOnly))
		case "NUMERIC":
			f.Value = "35" + pad(id*7919%10_000_000_000_000, 13)
		default:
			f.Value = g.maybe(0.9, pick(g, []string{"16GB", "32GB", "8GB & SSD", "Unlimited <5G>", "Prepaid", "n/a"}))
		}
	}
	return out
}

func hex2(n int64) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[n>>4&0xf], digits[n&0xf]})
}
