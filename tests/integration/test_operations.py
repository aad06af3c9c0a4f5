"""Operations (issue #18): health, metrics, request ids, JSON logs without patient data, periodic jobs."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from adapter.app import create_app
from adapter.ops import jobs
from adapter.ops.logs import JsonFormatter
from tests.helpers import bearer
from tests.integration.messaging_helpers import ALFA, KOMMUN_A, MARIA, PERSONNUMMER, items, message, send

SECRET_TEXT = "Hemlig journaltext om patienten"


def test_livez_and_readyz_answer_without_a_token_and_show_no_data(app):
    anonymous = app.test_client()
    assert anonymous.get("/livez").status_code == 200
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.headers["Content-Type"] == "application/health+json"
    checks = ready.get_json()["checks"]
    assert {checks[c]["status"] for c in ("database", "migrations", "outbox")} == {"pass"}
    assert checks["migrations"]["current"] == checks["migrations"]["head"]


def test_readyz_says_the_routine_has_expired_as_a_warning_not_a_failure(app):
    ready = app.test_client().get("/readyz")
    routine = ready.get_json()["checks"]["routine"]
    assert ready.status_code == 200 and routine["status"] == "warn" and routine["expired"] is True
    assert routine["validTo"] == "2026-11-14"


def test_readyz_is_503_when_the_database_does_not_answer(config, tmp_path):
    broken = create_app(config.with_overrides(database_url=f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"))
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["status"] == "fail"
    assert broken.test_client().get("/livez").status_code == 200


def test_metrics_need_the_metrics_token_outside_the_sandbox(config, clean_database):
    guarded = create_app(config.with_overrides(sandbox=False, metrics_token="s3cret-metrics"))
    client = guarded.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answered = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert answered.status_code == 200 and b"mc_outbox_backlog" in answered.data
    guarded.extensions["mc"].engine.dispose()


def _sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_messages_routed_and_refusals_by_rule(app, client, inbox):
    before = app.test_client().get("/metrics").get_data(as_text=True)
    assert send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))).status_code == 201
    assert send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)])).status_code == 422  # MC-R38: no sent-by
    after = app.test_client().get("/metrics").get_data(as_text=True)
    assert _sample(after, "mc_messages_refused_total", rule="MC-R38") == _sample(before, "mc_messages_refused_total", rule="MC-R38") + 1
    assert _sample(after, "mc_messages_routed_total") >= _sample(before, "mc_messages_routed_total") + 1
    assert _sample(after, "mc_http_requests_total", route="/fhir/<resource_type>", method="POST", status="201") >= 1
    assert _sample(after, "mc_routine_expired") == 1.0
    assert "mc_outbox_oldest_waiting_age_seconds" in after and "mc_feed_horizon_lag_seconds" in after
    assert _sample(after, "mc_subscriptions", status="active") == 0 and "mc_subscription_events_unsent 0.0" in after


def test_a_request_id_is_taken_from_the_caller_or_made_and_echoed(app):
    client = app.test_client()
    assert client.get("/livez", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    made = client.get("/livez", headers={"X-Request-Id": "bad id with spaces"}).headers["X-Request-Id"]
    assert made != "bad id with spaces" and len(made) == 32


def test_logs_are_json_lines_with_the_request_id_and_never_patient_data_text_or_tokens(app, client, inbox):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("adapter")
    logger.addHandler(handler)
    token = bearer(app, hsa_id=MARIA)["Authorization"].split(" ", 1)[1]
    try:
        body = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True,
                       payload=[{"contentString": SECRET_TEXT}])
        client.post("/fhir/Communication", json=body, headers={"Content-Type": "application/fhir+json",
                                                               "Authorization": f"Bearer {token}", "X-Request-Id": "req-77"})
        refused = dict(body, identifier=[{"system": "urn:x", "value": "refused-1"}], extension=[])
        client.post("/fhir/Communication", json=refused, headers={"Content-Type": "application/fhir+json", "X-Request-Id": "req-78"})
        client.get(f"/fhir/Communication?subject:identifier={PERSONNUMMER['system']}|{PERSONNUMMER['value']}")
        logger.warning("a line of our own")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    for line in text.splitlines():
        json.loads(line)  # every line is one JSON object
    for secret in (PERSONNUMMER["value"], SECRET_TEXT, token):
        assert secret not in text


def test_a_periodic_job_runs_once_per_interval_across_workers(app, fixed_clock):
    state = app.extensions["mc"]
    jobs.ensure_rows(state.sessions, state.registry.periodic_jobs.values())
    assert set(jobs.run_due(state, worker="host-a:1")) == {"trash-purge", "routine-validity"}
    assert jobs.run_due(state, worker="host-b:2") == []  # the same day: done already, by the other worker
    fixed_clock.now += timedelta(hours=25)
    assert set(jobs.run_due(state, worker="host-b:2")) == {"trash-purge", "routine-validity"}
    with state.sessions() as session:
        runs = jobs.last_runs(session)
    assert runs["trash-purge"]["status"] == "ok" and runs["trash-purge"]["runs"] == 2
    assert runs["routine-validity"]["detail"].startswith("EXPIRED")
    assert app.test_client().get("/readyz").get_json()["checks"]["periodicJobs"]["jobs"]["trash-purge"]["runs"] == 2


def test_a_job_held_by_a_worker_that_died_is_taken_over_when_its_lease_ends(app, fixed_clock):
    state = app.extensions["mc"]
    job = state.registry.periodic_jobs["trash-purge"]
    jobs.ensure_rows(state.sessions, [job])
    with state.sessions.begin() as session:
        assert jobs.claim(session, job, now=fixed_clock(), worker="dead-worker")  # and never finishes
    assert "trash-purge" not in jobs.run_due(state, worker="alive")
    fixed_clock.now += timedelta(seconds=job.lease_seconds + 1)
    assert "trash-purge" in jobs.run_due(state, worker="alive")


def test_the_trash_purge_job_deletes_items_trashed_30_days_ago(app, client, inbox, fixed_clock):
    assert send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))).status_code == 201
    task = items(client, inbox.shared(ALFA))[-1]
    from adapter.inbox.trash import purge_job

    trashed = dict(task, extension=[*task.get("extension", []), {
        "url": "https://meddelandecenter-adapter.github.io/fhir/StructureDefinition/trashed", "valueDateTime": fixed_clock().isoformat()}])
    response = client.put(f"/fhir/Task/{task['id']}", json=trashed,
                          headers={"Content-Type": "application/fhir+json", "If-Match": f'W/"{task["meta"]["versionId"]}"'})
    assert response.status_code == 200, response.get_json()
    state = app.extensions["mc"]
    assert purge_job(state.sessions, fixed_clock()) == "0 items purged"
    assert purge_job(state.sessions, fixed_clock() + timedelta(days=31)) == "1 items purged"
