#!/usr/bin/env bash
# Installs the chart on a real cluster (kind, in the CI workflow) and runs
# what only a real kubelet can show: a first install without --wait
# succeeds on a cold cluster (the migration hook waits for the bundled
# PostgreSQL), the images start under the restricted Pod Security Standard,
# the bundled PostgreSQL initialises on a real volume, probes pass, a sync
# Job made with kubectl and one made by POST /sync/users (past the Job
# policy) mirror the Snipe-IT simulator, `helm test` passes, an upgrade
# keeps the API tokens, an uninstall leaves nothing behind but the kept
# Secrets and the volume, and a reinstall logs in to the kept data.
#
#   IMAGE=usersync:ci SIM_IMAGE=usersync-snipeit-sim:ci hack/kind-e2e.sh
#
# Needs kubectl, helm, curl and jq, a cluster in the current context, and
# both images loaded into it (kind load docker-image …).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-usersync:ci}
SIM_IMAGE=${SIM_IMAGE:-usersync-snipeit-sim:ci}
ns=${NAMESPACE:-usersync-e2e}
release=usersync
log() { echo "kind-e2e: $*" >&2; }
fail() { echo "kind-e2e: FAIL: $*" >&2; exit 1; }
dump() {
  kubectl -n "$ns" get all,jobs,cronjobs,pvc,events -o wide >&2 || true
  kubectl -n "$ns" logs -l app.kubernetes.io/instance=$release --all-containers --prefix --tail=100 >&2 || true
}
trap 'dump' ERR

kubectl create namespace "$ns"
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted

log "Snipe-IT simulator"
sed "s#SIM_IMAGE#$SIM_IMAGE#" .github/kind/snipeit-sim.yaml | kubectl -n "$ns" apply -f -
kubectl -n "$ns" rollout status deploy/snipeit-sim --timeout=2m
kubectl -n "$ns" create secret generic snipeit --from-literal=token=kind-snipeit-token

log "helm install (bundled PostgreSQL), without --wait"
warnings=$(mktemp)
install() {
  helm install "$release" deploy/helm/usersync -n "$ns" --timeout 10m \
    --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
    --set snipeit.url="http://snipeit-sim.$ns.svc:8080" --set snipeit.existingSecret=snipeit \
    --set sync.suspend=true 2> >(tee "$warnings" >&2)
  if grep -qi 'would violate PodSecurity' "$warnings"; then fail "PodSecurity warnings on install"; fi
  kubectl -n "$ns" rollout status "deploy/$release-api" --timeout=5m
}
install
kubectl get validatingadmissionpolicy "$release.$ns.usersync.io" >/dev/null || fail "no Job policy on a cluster that serves it"

log "a sync Job from the CronJob, as an operator makes one"
kubectl -n "$ns" create job --from=cronjob/$release manual-1
kubectl -n "$ns" wait --for=condition=complete job/manual-1 --timeout=5m
kubectl -n "$ns" logs job/manual-1 | tail -5

log "helm test"
helm test "$release" -n "$ns" --logs

kubectl -n "$ns" port-forward svc/$release-api 18080:80 >/dev/null 2>&1 &
pf=$!
trap 'kill $pf 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do curl -fsS http://127.0.0.1:18080/readyz >/dev/null 2>&1 && break; sleep 1; done
secret() { kubectl -n "$ns" get secret $release-api-tokens -o jsonpath="{.data.$1}" | base64 -d; }
read_token=$(secret read)
sync_token=$(secret sync)
api() { curl -fsS -H "Authorization: Bearer $1" "${@:2}"; }

users=$(api "$read_token" 'http://127.0.0.1:18080/users' | jq length)
log "users mirrored: $users"
[ "$users" -gt 0 ] || fail "no users mirrored"

log "POST /sync/users: a Job made by the API with its ServiceAccount"
job=$(api "$sync_token" -X POST http://127.0.0.1:18080/sync/users | jq -r .job)
if [ -z "$job" ] || [ "$job" = null ]; then fail "POST /sync/users returned no job"; fi
kubectl -n "$ns" wait --for=condition=complete "job/$job" --timeout=5m
jobs=$(api "$read_token" http://127.0.0.1:18080/sync/jobs)
echo "$jobs" | jq . >&2
for want in "manual-1=manual" "$job=api"; do
  name=${want%=*} trigger=${want#*=}
  got=$(echo "$jobs" | jq -r --arg n "$name" '.[] | select(.name == $n) | "\(.trigger) \(.state)"')
  [ "$got" = "$trigger succeeded" ] || fail "GET /sync/jobs: $name is \"$got\", want \"$trigger succeeded\""
done

log "helm upgrade keeps the generated tokens"
helm upgrade "$release" deploy/helm/usersync -n "$ns" --reuse-values --set api.replicas=1 --wait --timeout 5m
[ "$(secret read)" = "$read_token" ] || fail "helm upgrade changed the read token"
api "$read_token" 'http://127.0.0.1:18080/users?limit=1' >/dev/null 2>&1 || {
  kill $pf; kubectl -n "$ns" port-forward svc/$release-api 18080:80 >/dev/null 2>&1 & pf=$!; sleep 2
  api "$read_token" 'http://127.0.0.1:18080/users?limit=1' >/dev/null
}

log "helm uninstall leaves nothing but the kept Secrets and the PostgreSQL volume"
helm uninstall "$release" -n "$ns" --wait --timeout 5m
kept="secret/$release-api-tokens
secret/$release-database"
# Sync Jobs are owned by the CronJob: the garbage collector removes them
# shortly after it.
for _ in $(seq 1 60); do
  left=$(kubectl -n "$ns" get all,secrets,configmaps,roles,rolebindings,serviceaccounts,leases,networkpolicies,ingresses,poddisruptionbudgets,jobs,cronjobs \
    -l app.kubernetes.io/instance=$release -o name | sort)
  [ "$left" = "$kept" ] && break
  sleep 2
done
[ "$left" = "$kept" ] || fail "left behind: $left (want only $kept)"
if kubectl get validatingadmissionpolicy "$release.$ns.usersync.io" >/dev/null 2>&1; then fail "the Job policy outlived the release"; fi

log "reinstall: the kept password opens the kept data"
kill $pf 2>/dev/null || true
install
kubectl -n "$ns" create job --from=cronjob/$release manual-2
kubectl -n "$ns" wait --for=condition=complete job/manual-2 --timeout=5m
[ "$(secret read)" = "$read_token" ] || fail "the reinstall changed the read token"
log "PASS"
