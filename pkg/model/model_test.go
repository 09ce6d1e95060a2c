package model_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want []model.Scope
		err  error
	}{
		{in: "users", want: []model.Scope{model.ScopeUsers}},
		{in: "assets", want: []model.Scope{model.ScopeAssets}},
		{in: "all", want: []model.Scope{model.ScopeUsers, model.ScopeAssets}},
		{in: "Users", err: model.ErrInvalid},
		{in: "", err: model.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := model.ParseScope(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("ParseScope(%q) err = %v, want %v", tt.in, err, tt.err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseScope(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestArchivedFollowsTheStatusType(t *testing.T) {
	for typ, want := range map[string]bool{"archived": true, "deployable": false, "": false} {
		if got := (&model.Asset{StatusType: typ}).Archived(); got != want {
			t.Errorf("Archived() with status type %q = %v, want %v", typ, got, want)
		}
	}
}
