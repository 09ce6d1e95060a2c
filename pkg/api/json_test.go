package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// FuzzJSONMatchesEncodingJSON holds appendJSON (and so every body and
// stream) to what encoding/json writes for the same user and asset:
// clients parse what the API always sent, byte for byte.
func FuzzJSONMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "Ada", "<script>&\u2028\u2029", "\xff\xfe\xed\xa0\x80", "\x00\x1f\"\\/", "Zoë 😀", "=1+1\t\r\n"} {
		f.Add(s, int64(42), "k")
	}
	f.Fuzz(func(t *testing.T, text string, n int64, key string) {
		when := time.Unix(n%(1<<33), n%1e9).UTC()
		u := model.User{ID: n, Username: text, FirstName: text, Name: text, Email: text, Notes: text, Groups: []string{text, ""},
			CompanyIDs: []int64{n, -n}, DepartmentID: &n, LastLogin: &when, StartDate: &when, AssetsCount: int32(n)}
		a := model.Asset{ID: n, AssetTag: text, Serial: text, PurchaseCost: text, CustomFields: map[string]string{key: text, text: key, "z": "y"},
			LastCheckout: &when, PurchaseDate: &when}
		for name, v := range map[string]any{"user": newUser(&u), "asset": newAsset(&a)} {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			wantErr := enc.Encode(v)
			got, err := appendJSON(nil, v)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%s: error %v, encoding/json's %v", name, err, wantErr)
			}
			if err == nil && !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("%s:\n got %q\nwant %q", name, got, want.Bytes())
			}
		}
	})
}
