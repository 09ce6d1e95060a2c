package kubetest

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JobPhase is a state SetJobStatus puts a Job in.
type JobPhase string

// The phases SetJobStatus writes.
const (
	// JobRunning: the Job's pod has started and is ready.
	JobRunning JobPhase = "running"
	// JobSucceeded: the pod exited 0 and the Job completed.
	JobSucceeded JobPhase = "succeeded"
	// JobFailed: the pod failed and the Job gave up (backoff limit).
	JobFailed JobPhase = "failed"
)

// SetJobStatus writes through the status subresource what the Job
// controller would write once the Job's pod got to phase — no controller
// or kubelet runs here. The API server validates the status as it would
// the controller's: a finished Job carries the interim condition
// (SuccessCriteriaMet, FailureTarget) before the final one.
func (cp *ControlPlane) SetJobStatus(ctx context.Context, namespace, name string, phase JobPhase) error {
	jobs := cp.Clientset().BatchV1().Jobs(namespace)
	job, err := jobs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	st := &job.Status
	if st.StartTime == nil {
		st.StartTime = &now
	}
	cond := func(t batchv1.JobConditionType, reason string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason,
			LastProbeTime: now, LastTransitionTime: now}
	}
	switch phase {
	case JobRunning:
		st.Active, st.Ready = 1, ptr(int32(1))
	case JobSucceeded:
		st.Active, st.Ready, st.Succeeded = 0, ptr(int32(0)), 1
		st.CompletionTime = &now
		st.Conditions = append(st.Conditions,
			cond(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached),
			cond(batchv1.JobComplete, batchv1.JobReasonCompletionsReached))
	case JobFailed:
		st.Active, st.Ready, st.Failed = 0, ptr(int32(0)), 1
		st.Conditions = append(st.Conditions,
			cond(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded),
			cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded))
	default:
		return fmt.Errorf("kubetest: unknown job phase %q", phase)
	}
	if _, err := jobs.UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of Job %s/%s to %s: %w", namespace, name, phase, err)
	}
	return nil
}
