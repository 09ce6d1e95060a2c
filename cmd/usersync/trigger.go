package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// scheduledLate and scheduledEarly bound how far from now the scheduled
// time in a CronJob Job's name may lie: behind, a Job can start long after
// its schedule (a missed start within startingDeadlineSeconds, a pod
// pending, a retry after a failed pod); ahead, only by the clock skew
// between the controller and this node.
const (
	scheduledLate  = 48 * time.Hour
	scheduledEarly = time.Hour
)

// recordedTrigger is the trigger a run records. A Job's SYNC_TRIGGER comes
// from its pod template, so a Job made with `kubectl create job
// --from=cronjob/…` says schedule like the CronJob's own, and a pod cannot
// read its Job's annotations to tell them apart. But the CronJob
// controller names each Job <cronjob>-<scheduled time in minutes since
// the epoch>, so a run that says schedule keeps it only when jobName ends
// in such a number, near now; any other Job records manual. Without a
// jobName (not a Kubernetes Job: cron on a host) schedule stands. Every
// other trigger — api and webhook are set by the API's launcher on the
// Jobs it creates — is recorded as given.
func recordedTrigger(trigger, jobName string, now time.Time) string {
	if trigger != model.TriggerSchedule || jobName == "" || scheduledJobName(jobName, now) {
		return trigger
	}
	return model.TriggerManual
}

// scheduledJobName reports whether name is one the CronJob controller
// could have given a Job it started for a schedule near now.
func scheduledJobName(name string, now time.Time) bool {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return false
	}
	digits := name[i+1:]
	// The controller writes the number in plain decimal: no sign, no
	// leading zero.
	if digits == "" || digits[0] < '1' || digits[0] > '9' {
		return false
	}
	minutes, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || minutes > now.Unix()/60+int64(scheduledEarly/time.Minute) {
		return false
	}
	scheduled := time.Unix(minutes*60, 0)
	return !scheduled.Before(now.Add(-scheduledLate)) && !scheduled.After(now.Add(scheduledEarly))
}
