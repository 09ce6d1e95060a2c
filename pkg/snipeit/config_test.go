package snipeit_test

import (
	"errors"
	"testing"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
)

// TestNewReadsTheRateExplicitly: 0 takes the default, UnlimitedRate lifts
// the limit, and any other negative rate is a mistake, not "unlimited".
func TestNewReadsTheRateExplicitly(t *testing.T) {
	tests := []struct {
		name string
		rate float64
		ok   bool
	}{
		{"zero takes the default", 0, true},
		{"a rate is a rate", 30, true},
		{"UnlimitedRate lifts the limit", snipeit.UnlimitedRate, true},
		{"another negative rate is refused", -5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := snipeit.New(snipeit.Config{BaseURL: "https://snipe.example.com", Token: "t", RatePerMinute: tt.rate})
			if tt.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tt.ok && !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("New: err = %v, want ErrInvalid", err)
			}
		})
	}
}
