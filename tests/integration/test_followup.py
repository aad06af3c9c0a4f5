"""Follow-up (MC-R47): watches within opening hours (MC-R24, MC-R34 to MC-R36), open and overdue items, handling times.

The clock is injected: Monday 2026-11-23 is a working day (08-17 Stockholm = 07-16 UTC in
winter), the weekend follows on the 28th and 29th, and julafton and juldagen are holidays.
"""

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from adapter.followup.models import InboxWatch
from adapter.inbox.models import InboxItem
from tests.helpers import bearer, search
from tests.integration.messaging_helpers import ALFA, ANNA, CECILIA, JON, KOMMUN_A, MARIA, PERSONNUMMER, items, message, send
from tests.integration.test_proxies import DORIS, HANS, INGRID, _grant

BETA = "SE2321000131-E000000000102"
FORVALTNING = "SE2321000131-P000000009001"
MONDAY = datetime(2026, 11, 23, tzinfo=timezone.utc)


def at(clock, day: datetime, hour: int, minute: int = 0) -> None:
    clock.now = day.replace(hour=hour, minute=minute)


def followup(client, app, who=HANS, **params) -> dict:
    answer = client.get("/admin/followup", query_string=params, headers=bearer(app, hsa_id=who))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def figures_of(report: dict, inbox: str) -> dict:
    return next(i for i in report["inboxes"] if i["inbox"] == inbox)


def day_of(figures: dict, date: str) -> dict:
    return next(d for d in figures["days"] if d["date"] == date)


def poll(client, app, inbox: str, who: str) -> None:
    search(client, f"Task?owner={inbox}", bearer(app, hsa_id=who))


def test_a_samverkan_inbox_watched_in_each_third_of_a_weekday_is_compliant_mc_r35(client, app, inbox, fixed_clock):
    samverkan = inbox.shared(ALFA)
    for hour, minute in ((7, 30), (7, 31), (7, 40), (11, 0)):  # three polls in one window are one watch
        at(fixed_clock, MONDAY, hour, minute)
        poll(client, app, samverkan, CECILIA)
    day = day_of(figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), samverkan), "2026-11-23")
    assert (day["open"], day["required"], day["watched"], day["compliant"]) == (True, 3, 2, None)  # the day is not over
    at(fixed_clock, MONDAY, 15, 59)  # the last third ends at 17:00 Stockholm
    poll(client, app, samverkan, CECILIA)
    at(fixed_clock, MONDAY + timedelta(days=1), 7)
    figures = figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), samverkan)
    assert (day_of(figures, "2026-11-23")["watched"], day_of(figures, "2026-11-23")["compliant"]) == (3, True)
    assert figures["compliance"] == {"open_days": 1, "compliant_days": 1, "ratio": 1.0}
    with app.extensions["mc"].sessions() as session:
        assert session.execute(select(func.count()).select_from(InboxWatch).where(InboxWatch.inbox == samverkan)).scalar() == 3


def test_a_watch_after_closing_time_does_not_count(client, app, inbox, fixed_clock):
    meddelande = inbox.shared(ALFA, "meddelande")
    at(fixed_clock, MONDAY, 17, 30)  # 18:30 in Stockholm
    poll(client, app, meddelande, ANNA)
    at(fixed_clock, MONDAY + timedelta(days=1), 7)
    day = day_of(figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), meddelande), "2026-11-23")
    assert (day["required"], day["watched"], day["compliant"]) == (1, 0, False)


def test_weekends_and_public_holidays_need_no_watch(client, app, inbox, fixed_clock):
    at(fixed_clock, datetime(2026, 12, 29, tzinfo=timezone.utc), 6)
    report = followup(client, app, **{"from": "2026-12-24", "to": "2026-12-28"})
    days = {d["date"]: (d["open"], d["required"]) for d in figures_of(report, inbox.shared(ALFA))["days"]}
    assert days == {"2026-12-24": (False, 0), "2026-12-25": (False, 0), "2026-12-26": (False, 0),
                    "2026-12-27": (False, 0), "2026-12-28": (True, 3)}
    assert figures_of(report, inbox.shared(ALFA))["compliance"]["open_days"] == 1


def test_only_those_who_answer_for_an_inbox_watch_it(client, app, inbox, fixed_clock):
    samverkan = inbox.shared(ALFA)
    at(fixed_clock, MONDAY, 8)
    search(client, f"Task?owner={samverkan}")  # the sandbox operator
    poll(client, app, samverkan, JON)  # Jon works at Gamma: he sees nothing of Alfa samverkan
    day = day_of(figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), samverkan), "2026-11-23")
    assert day["watched"] == 0
    search(client, f"Task?owner={samverkan}", bearer(app, client="alfa-system", org=ALFA))  # the unit's own system
    day = day_of(figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), samverkan), "2026-11-23")
    assert day["watched"] == 1


def test_open_items_by_age_and_handling_times(client, app, inbox, fixed_clock):
    samverkan = inbox.shared(ALFA)
    at(fixed_clock, MONDAY, 8)
    for _ in range(3):
        assert send(client, message(inbox.shared(KOMMUN_A), [samverkan], sent_by=inbox.personal(MARIA))).status_code == 201
    first, second, _third = items(client, samverkan)
    as_member = {**bearer(app, hsa_id=CECILIA), "Content-Type": "application/json-patch+json"}
    at(fixed_clock, MONDAY, 10)  # opened after 2 hours
    assert client.patch(f"/fhir/Task/{first['id']}", json=[{"op": "replace", "path": "/status", "value": "in-progress"}],
                        headers={**as_member, "If-Match": 'W/"1"'}).status_code == 200
    at(fixed_clock, MONDAY, 14)  # done after 6 hours
    assert client.patch(f"/fhir/Task/{first['id']}", json=[{"op": "replace", "path": "/status", "value": "completed"}],
                        headers={**as_member, "If-Match": 'W/"2"'}).status_code == 200
    at(fixed_clock, MONDAY + timedelta(days=4), 9)  # Friday: the two open ones are four days old
    figures = figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-27"}), samverkan)
    assert figures["open_items"] == {"total": 2, "by_age": {"under_1_day": 0, "1_to_3_days": 0, "3_to_7_days": 2,
                                                             "7_to_14_days": 0, "over_14_days": 0}}
    assert figures["handled"] == {"done": 1, "by_proxy": 0, "time_to_open_hours": {"p50": 2.0, "p90": 2.0},
                                  "time_to_done_hours": {"p50": 6.0, "p90": 6.0}}
    assert day_of(figures, "2026-11-23")["done"] == 1
    assert second["id"] != first["id"]


def test_an_item_is_done_on_the_local_day_stockholm_sees(client, app, inbox, fixed_clock):
    samverkan = inbox.shared(ALFA)
    at(fixed_clock, MONDAY, 8)
    for _ in range(2):
        assert send(client, message(inbox.shared(KOMMUN_A), [samverkan], sent_by=inbox.personal(MARIA))).status_code == 201
    as_member = {**bearer(app, hsa_id=CECILIA), "Content-Type": "application/json-patch+json"}
    for item, (hour, minute) in zip(items(client, samverkan), ((22, 59), (23, 30))):  # 23:59 Monday, 00:30 Tuesday
        for version, status in ((1, "in-progress"), (2, "completed")):
            at(fixed_clock, MONDAY, hour, minute)
            assert client.patch(f"/fhir/Task/{item['id']}", json=[{"op": "replace", "path": "/status", "value": status}],
                                headers={**as_member, "If-Match": f'W/"{version}"'}).status_code == 200
    at(fixed_clock, MONDAY + timedelta(days=2), 9)
    figures = figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-24"}), samverkan)
    assert [(d["date"], d["done"]) for d in figures["days"]] == [("2026-11-23", 1), ("2026-11-24", 1)]
    assert figures["handled"]["done"] == 2
    monday_only = figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), samverkan)
    assert monday_only["handled"]["done"] == 1 and day_of(monday_only, "2026-11-23")["done"] == 1


def test_items_past_due_and_past_their_frame_are_overdue_mc_r19(client, app, inbox, fixed_clock):
    samverkan = inbox.shared(ALFA)
    now = MONDAY.replace(hour=9)
    fixed_clock.now = now

    def item(number, kind, *, age_days, due=None, status="requested"):
        return {"task_id": f"followup-{number}", "owner": samverkan, "kind": kind, "status": status, "due": due,
                "last_updated": now - timedelta(days=age_days), "created_at": now - timedelta(days=age_days),
                "feed_xid": 0, "feed_pos": 10_000 + number}

    rows = [item(1, "fk-question", age_days=15), item(2, "fk-question", age_days=13), item(3, "consult", age_days=8),
            item(4, "result", age_days=3), item(5, "message", age_days=1, due=now - timedelta(hours=1)),
            item(6, "consult", age_days=30, status="completed")]
    with app.extensions["mc"].sessions.begin() as session:
        session.execute(insert(InboxItem), rows)
    figures = figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), samverkan)
    assert figures["overdue"] == {"past_due": 1, "fk-question_over_frame": 1, "consult_over_frame": 1, "result_over_frame": 0}
    assert figures["open_items"]["total"] == 5


def test_a_proxy_handling_a_principals_item_is_counted_mc_r45(client, app, inbox, fixed_clock):
    at(fixed_clock, MONDAY, 8)
    assert _grant(app, client, inbox, HANS, ANNA, DORIS).status_code == 201
    assert send(client, message(inbox.personal(CECILIA), [inbox.personal(ANNA)])).status_code == 201
    [task] = items(client, inbox.personal(ANNA))
    as_proxy = {**bearer(app, hsa_id=DORIS), "Content-Type": "application/json-patch+json"}
    poll(client, app, inbox.personal(ANNA), DORIS)  # the proxy watches the principal's inbox
    for version, status in ((1, "in-progress"), (2, "completed")):
        done = client.patch(f"/fhir/Task/{task['id']}", json=[{"op": "replace", "path": "/status", "value": status}],
                            headers={**as_proxy, "If-Match": f'W/"{version}"'})
        assert done.status_code == 200, done.get_json()
    figures = figures_of(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}), inbox.personal(ANNA))
    assert figures["handled"]["done"] == 1 and figures["handled"]["by_proxy"] == 1
    assert day_of(figures, "2026-11-23")["watched"] == 1 and figures["watches_per_day"] == 1


def test_an_enhetschef_follows_up_the_unit_and_a_verksamhetschef_the_units_below(client, app, inbox, fixed_clock):
    at(fixed_clock, MONDAY, 12)
    unit = {i["inbox"] for i in followup(client, app, who=HANS)["inboxes"]}
    assert inbox.shared(ALFA) in unit and inbox.shared(BETA) not in unit and inbox.shared(KOMMUN_A) not in unit
    assert inbox.personal(ANNA) in unit  # the unit's users' personal inboxes (MC-R24)
    below = {i["inbox"] for i in followup(client, app, who=INGRID)["inboxes"]}
    assert {inbox.shared(ALFA), inbox.shared(BETA)} <= below and inbox.shared(KOMMUN_A) not in below
    region = {i["inbox"] for i in followup(client, app, who=FORVALTNING)["inboxes"]}
    assert {inbox.shared(ALFA), inbox.shared(KOMMUN_A)} <= region and not any(r.startswith("Practitioner/") for r in region)
    assert client.get("/admin/followup", headers=bearer(app, hsa_id=CECILIA)).status_code == 403
    beta_unit = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{BETA}")[0]["id"]
    refused = client.get("/admin/followup", query_string={"unit": beta_unit}, headers=bearer(app, hsa_id=HANS))
    assert refused.status_code == 403
    assert followup(client, app, who=INGRID, unit=beta_unit)["inboxes"]


def test_the_csv_export_has_a_row_per_inbox_and_day(client, app, inbox, fixed_clock):
    at(fixed_clock, MONDAY, 12)
    answer = client.get("/admin/followup/csv", query_string={"from": "2026-11-23", "to": "2026-11-24"},
                        headers=bearer(app, hsa_id=HANS))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    report = followup(client, app, **{"from": "2026-11-23", "to": "2026-11-24"})
    assert len(rows) == 2 * len(report["inboxes"])
    assert {r["date"] for r in rows} == {"2026-11-23", "2026-11-24"}
    assert set(rows[0]) == {"date", "unit_hsa_id", "inbox", "inbox_kind", "open_day", "required_watches", "watched_parts",
                            "compliant", "done", "done_by_proxy"}


def test_follow_up_shows_no_message_text_and_no_patient(client, app, inbox, fixed_clock):
    at(fixed_clock, MONDAY, 9)
    patient = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True)
    assert send(client, patient).status_code == 201
    report = json.dumps(followup(client, app, **{"from": "2026-11-23", "to": "2026-11-23"}))
    exported = client.get("/admin/followup/csv", headers=bearer(app, hsa_id=HANS)).get_data(as_text=True)
    for text in (report, exported):
        assert PERSONNUMMER["value"] not in text and "Synthetic test message" not in text and "Task/" not in text


@pytest.mark.parametrize("params", [{"from": "2026-11-24", "to": "2026-11-23"}, {"from": "2026-01-01", "to": "2026-11-23"},
                                    {"from": "not-a-date"}, {"unit": "../etc"}, {"to": "0001-01-01"}])
def test_a_bad_period_or_unit_is_422(client, app, inbox, params):
    answer = client.get("/admin/followup", query_string=params, headers=bearer(app, hsa_id=HANS))
    assert answer.status_code == 422 and answer.get_json()["resourceType"] == "OperationOutcome"


def test_a_period_from_a_date_alone_is_the_week_from_it(client, app, inbox, fixed_clock):
    at(fixed_clock, MONDAY, 12)
    assert followup(client, app, **{"from": "2026-11-02"})["period"] == {"from": "2026-11-02", "to": "2026-11-08"}
