package syncer

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
)

// germanLog is a Snipe-IT whose activity log shows action types in
// German; it counts how often it is asked how.
type germanLog struct {
	Changes
	asked map[string]int
}

func (g *germanLog) ActionName(_ context.Context, stored string) (string, bool, error) {
	g.asked[stored]++
	shown, ok := map[string]string{"checkout": "herausgabe", "checkin from": "rücknahme von", "delete": "löschen"}[stored]
	return shown, ok, nil
}

// TestActionTypesInAnotherLanguageAreLearnt: the report translates action
// types; English ones are known, others are learnt by asking the log how
// it shows each type the run needs, once per run, and remembered.
func TestActionTypesInAnotherLanguageAreLearnt(t *testing.T) {
	g := &germanLog{asked: map[string]int{}}
	r := &runState{s: &Syncer{cfg: Config{Changes: g}}, actions: map[string]string{}, probed: map[string]bool{}}
	log := slog.New(slog.DiscardHandler)
	user, license := int64(42), int64(7)
	eff := newEffects(0)
	entries := []model.ActivityEntry{
		{ID: 1, Action: "herausgabe", ItemType: "license", ItemID: &license, TargetType: "user", TargetID: &user},
		{ID: 2, Action: "herausgabe", ItemType: "accessory", ItemID: &license, TargetType: "user", TargetID: &user},
		{ID: 3, Action: "rücknahme von", ItemType: "license", ItemID: &license, TargetType: "user", TargetID: &user},
		{ID: 4, Action: "checkout", ItemType: "consumable", ItemID: &license, TargetType: "user", TargetID: &user},
		{ID: 5, Action: "aktualisieren", ItemType: "license", ItemID: &license, TargetType: "user", TargetID: &user},
	}
	if err := r.add(context.Background(), log, eff, entries); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int64]model.ItemCounts{42: {Licenses: 0, Accessories: 1, Consumables: 1}}, eff.deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"checkout": 1, "checkin from": 1}, g.asked); diff != "" {
		t.Errorf("asked the log (-want +got):\n%s", diff)
	}
	if eff.unknown != "" {
		t.Errorf("an update of a license was taken for a change of counts: %s", eff.unknown)
	}
	if diff := cmp.Diff(map[string]string{"checkout": "herausgabe", "checkin from": "rücknahme von"}, r.actions); diff != "" {
		t.Errorf("learnt (-want +got):\n%s", diff)
	}
}
