#!/usr/bin/env bash
# sekmet-fhir's R4 Backport round trip against a sandbox adapter (issue #14).
#
#   bash tests/interop/sekmet_subscriptions.sh [path/to/sekmet]   (default: sekmet on PATH)
#
# sekmet's built-in `subscription_backport_roundtrip` triggers on ADT (it registers a patient:
# Organization and Patient creates the adapter's directory profiles refuse, as they should), so
# this runs its twin `sekmet_subscription_roundtrip.yaml`: the same steps on the adapter's
# inbox-item topic, fired by a message to the subscribed inbox. The adapter serves on :8181 with
# its worker, sekmet's embedded server takes the hooks on :8090.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sekmet="${1:-sekmet}"
work="$(mktemp -d)"
cd "$work"
MC_OUTBOUND_ALLOW_HOSTS=127.0.0.1 MC_PUBLIC_BASE_URL=http://127.0.0.1:8181 \
  mc-adapter serve --sandbox --port 8181 >serve.log 2>&1 &
adapter=$!
trap 'kill $adapter 2>/dev/null; wait $adapter 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf http://127.0.0.1:8181/fhir/metadata >/dev/null && break; sleep 0.5; done
token="$(mc-adapter token --operator)"
base=https://meddelandecenter-adapter.github.io/fhir
first() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:8181/fhir/$1" |
  python3 -c 'import json,sys; print(next(e["resource"]["id"] for e in json.load(sys.stdin)["entry"] if e["search"]["mode"] == "match"))'; }
sender="$(first "HealthcareService?identifier=$base/NamingSystem/inbox|SE2120000001-E000000000301%23samverkan")"
owner="$(first "HealthcareService?identifier=$base/NamingSystem/inbox|SE2120000002-E000000000302%23samverkan")"
sent_by="$(first "Practitioner?identifier=urn:oid:1.2.752.29.4.19|SE2120000001-P000000003002")"
cat >settings.yaml <<YAML
base_url: http://127.0.0.1:8090/fhir
host: 127.0.0.1
port: 8090
public_url: http://127.0.0.1:8090
data_dir: $work/sekmet-data
peers:
  adapter:
    base_url: http://127.0.0.1:8181/fhir
    headers: {Authorization: "Bearer $token"}
YAML
"$sekmet" scenario run "$here/sekmet_subscription_roundtrip.yaml" --peer adapter -c settings.yaml --report-dir reports \
  --var owner="$owner" --var sender="$sender" --var sent_by="$sent_by" --var message_id="$(python3 -c 'import uuid; print(uuid.uuid4())')"
