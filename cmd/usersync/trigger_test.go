package main

import (
	"fmt"
	"testing"
	"time"
)

func TestRecordedTrigger(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 3, 12, 0, time.UTC)
	// The CronJob controller names the 08:00 Job after 08:00 in minutes
	// since the epoch.
	at := func(d time.Duration) string { return fmt.Sprint(now.Truncate(time.Minute).Add(d).Unix() / 60) }
	tests := []struct {
		name, trigger, job, want string
	}{
		{"the CronJob's own Job is scheduled", "schedule", "usersync-" + at(-3*time.Minute), "schedule"},
		{"a CronJob name with dashes of its own", "schedule", "usersync-prod-eu-" + at(-3*time.Minute), "schedule"},
		{"a Job started a day late is still scheduled", "schedule", "usersync-" + at(-24*time.Hour), "schedule"},
		{"a clock a little behind the controller's", "schedule", "usersync-" + at(10*time.Minute), "schedule"},
		{"kubectl create job --from: a name of one's own", "schedule", "usersync-manual-run", "manual"},
		{"a name that merely ends in a small number", "schedule", "usersync-manual-1", "manual"},
		{"a name that ends in a date", "schedule", "usersync-20260301", "manual"},
		{"a name that ends in a time long past", "schedule", "usersync-" + at(-72*time.Hour), "manual"},
		{"a name that ends in a time hours ahead", "schedule", "usersync-" + at(3*time.Hour), "manual"},
		{"a number with a leading zero is not the controller's", "schedule", "usersync-0" + at(0), "manual"},
		{"a number too large for any clock", "schedule", "usersync-99999999999999999999999", "manual"},
		{"a number and no CronJob name", "schedule", at(0), "manual"},
		{"a name ending in a dash", "schedule", "usersync-", "manual"},
		{"no Job: cron on a host keeps schedule", "schedule", "", "schedule"},
		{"the API's Jobs are api, whatever their name", "api", "usersync-api-x7k2p", "api"},
		{"the API's webhook Jobs are webhook", "webhook", "usersync-webhook-q9z", "webhook"},
		{"manual stays manual with a scheduled-looking name", "manual", "usersync-" + at(0), "manual"},
		{"cli by hand", "cli", "", "cli"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recordedTrigger(tt.trigger, tt.job, now); got != tt.want {
				t.Errorf("recordedTrigger(%q, %q) = %q, want %q", tt.trigger, tt.job, got, tt.want)
			}
		})
	}
}
