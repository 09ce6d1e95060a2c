package kubetest

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// JobPhase is a point in a Job's life whose status WriteJobStatus writes.
type JobPhase string

// The phases WriteJobStatus writes, in the order a Job goes through them:
// JobRunning, JobPodFailed as many times as pods fail within the backoff
// limit, then one of the last three.
const (
	// JobRunning: the Job's pod has started and is ready.
	JobRunning JobPhase = "running"
	// JobPodFailed: a pod failed within the backoff limit, and the Job
	// controller started another.
	JobPodFailed JobPhase = "pod-failed"
	// JobSucceeded: the pod exited 0 and the Job completed.
	JobSucceeded JobPhase = "succeeded"
	// JobFailed: a pod failed and the Job gave up (backoff limit).
	JobFailed JobPhase = "failed"
	// JobDeadlineExceeded: the Job ran past activeDeadlineSeconds and its
	// pod was stopped.
	JobDeadlineExceeded JobPhase = "deadline-exceeded"
)

// WriteJobStatus writes through the status subresource what the Job
// controller would write once Job namespace/name got to phase: no
// controller or kubelet runs in these tests. The API server (1.34)
// validates the transitions as it would the controller's: startTime is set
// before the Job ends; a finished Job has no active or ready pods and
// carries the interim condition (SuccessCriteriaMet, FailureTarget) before
// the final one (Complete, Failed); only a complete Job has a
// completionTime. A conflicting write is retried on the Job as it is then.
//
// This is the one place that knows these rules: kubelettest's Jobs end
// through it too.
func WriteJobStatus(ctx context.Context, client kubernetes.Interface, namespace, name string, phase JobPhase) error {
	jobs := client.BatchV1().Jobs(namespace)
	for {
		job, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := applyJobPhase(&job.Status, phase, time.Now()); err != nil {
			return err
		}
		_, err = jobs.UpdateStatus(ctx, job, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("set status of Job %s/%s to %s: %w", namespace, name, phase, err)
		}
		return nil
	}
}

// SetJobStatus is WriteJobStatus on this control plane, as its admin.
func (cp *ControlPlane) SetJobStatus(ctx context.Context, namespace, name string, phase JobPhase) error {
	return WriteJobStatus(ctx, cp.Clientset(), namespace, name, phase)
}

// applyJobPhase changes st as the Job controller does at phase, at time
// at (whole seconds: what the API stores).
func applyJobPhase(st *batchv1.JobStatus, phase JobPhase, at time.Time) error {
	now := metav1.NewTime(at.Truncate(time.Second))
	if st.StartTime == nil {
		st.StartTime = &now
	}
	// The reasons and messages are the Job controller's.
	conditions := func(interim, final batchv1.JobConditionType, reason, message string) {
		for _, t := range []batchv1.JobConditionType{interim, final} {
			st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue,
				Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now})
		}
	}
	switch phase {
	case JobRunning:
		st.Active, st.Ready = 1, ptr(int32(1))
	case JobPodFailed:
		st.Failed++
	case JobSucceeded:
		st.Active, st.Ready, st.Succeeded = 0, ptr(int32(0)), 1
		st.CompletionTime = &now
		conditions(batchv1.JobSuccessCriteriaMet, batchv1.JobComplete,
			batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
	case JobFailed:
		st.Active, st.Ready = 0, ptr(int32(0))
		st.Failed++
		conditions(batchv1.JobFailureTarget, batchv1.JobFailed,
			batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
	case JobDeadlineExceeded:
		st.Active, st.Ready = 0, ptr(int32(0))
		st.Failed++
		conditions(batchv1.JobFailureTarget, batchv1.JobFailed,
			batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
	default:
		return fmt.Errorf("kubetest: unknown job phase %q", phase)
	}
	return nil
}
