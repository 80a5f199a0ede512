"""Every limits and use-cases endpoint through the official ``payi`` SDK in strict response-validation mode,
against our live server (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import httpx2
import pytest

from ..conftest import Live
from .official import run_official

COST_50_100 = 0.0001375  # claude-3-haiku on Bedrock: 50 input + 100 output tokens


def test_limits_endpoints(live: Live) -> None:
    r = run_official(
        live,
        """
        from datetime import datetime, timedelta, timezone

        out = {}
        created = client.limits.create(
            limit_name="team-a", max=1.5, limit_id="lim-a", limit_type="block", threshold=0.8,
            properties={"team": "a", "tmp": "x"},
        )
        out["created"] = dump(created)
        out["same"] = dump(client.limits.create(limit_name="team-a", max=1.5, limit_type="block", threshold=0.8))
        out["conflict"] = attempt(client.limits.create, limit_name="team-a", max=2.0)
        out["duplicate_id"] = attempt(client.limits.create, limit_name="other", max=2.0, limit_id="lim-a")
        out["bad_max"] = attempt(client.limits.create, limit_name="zero", max=0)
        out["bad_threshold"] = attempt(client.limits.create, limit_name="t", max=1, threshold=0.5)
        for i in range(4):
            client.limits.create(limit_name=f"extra-{i}", max=i + 1)

        ingested = client.ingest.units(
            category="system.aws.bedrock", resource="anthropic.claude-3-haiku-20240307-v1:0",
            units={"text": {"input": 50, "output": 100}}, limit_ids=["lim-a"],
        )
        out["ingest_state"] = ingested.xproxy_result.limits["lim-a"].state

        out["retrieved"] = dump(client.limits.retrieve("lim-a"))
        out["updated"] = dump(client.limits.update("lim-a", limit_name="team-a2", max=3.0))
        out["too_low"] = attempt(client.limits.update, "lim-a", max=0.0001)
        out["all"] = [l.limit_id for l in client.limits.list(limit=2)]
        first = client.limits.list(limit=2, sort_ascending=False)
        out["first_page"] = [l.limit_name for l in first.items]
        out["has_next"] = first.has_next_page()
        out["filtered"] = [l.limit_id for l in client.limits.list(limit_name="team-a2")]
        out["properties"] = dump(client.limits.properties.update("lim-a", properties={"tmp": None, "env": "prod"}))
        when = (datetime.now(timezone.utc) - timedelta(minutes=10)).replace(microsecond=0)
        out["reset"] = dump(client.limits.reset("lim-a", reset_date=when))
        out["reset_no_date"] = dump(client.limits.reset("lim-a"))
        out["after_reset"] = dump(client.limits.retrieve("lim-a"))
        out["deleted"] = dump(client.limits.delete("lim-a"))
        out["gone"] = attempt(client.limits.retrieve, "lim-a")
        out["gone_update"] = attempt(client.limits.update, "lim-a", max=5)
        result = out
        """,
    )
    created = r["created"]["limit"]
    assert r["created"]["request_id"]
    assert created["limit_id"] == "lim-a" and created["limit_name"] == "team-a"
    assert (created["limit_type"], created["max"], created["threshold"]) == ("block", 1.5, 0.8)
    assert created["totals"]["requests"]["total"] == 0
    assert created["properties"] == {"team": "a", "tmp": "x"}
    assert r["same"]["limit"]["limit_id"] == "lim-a"
    assert r["conflict"]["error"] == "ConflictError" and r["conflict"]["status"] == 409
    assert r["conflict"]["body"]["xproxy_error"]["code"] == "limit_name_already_exist"
    assert r["duplicate_id"]["body"]["xproxy_error"]["code"] == "duplicate_limit_id"
    assert r["bad_max"]["error"] == "BadRequestError"
    assert r["bad_max"]["body"]["xproxy_error"]["code"] == "invalid_max_limit"
    assert r["bad_threshold"]["body"]["xproxy_error"]["code"] == "create_limit_validation_failed"

    assert r["ingest_state"] == "ok"
    totals = r["retrieved"]["limit"]["totals"]
    assert totals["cost"]["total"]["base"] == pytest.approx(COST_50_100)
    assert totals["cost"]["input"]["base"] == pytest.approx(1.25e-05)
    assert totals["requests"] == {"ok": 1, "exceeded": 0, "overrun": 0, "blocked": 0, "blocked_external": 0, "failed": 0, "total": 1}

    updated = r["updated"]["limit"]
    assert updated["limit_name"] == "team-a2" and updated["max"] == 3.0
    assert updated["limit_creation_timestamp"] == created["limit_creation_timestamp"]
    assert r["too_low"]["status"] == 400 and r["too_low"]["body"]["xproxy_error"]["code"] == "invalid_max_limit_update"

    # Auto-paging follows the cursor over 3 pages of 2.
    assert r["all"][0] == "lim-a" and len(r["all"]) == len(set(r["all"])) == 5
    assert r["first_page"] == ["extra-3", "extra-2"] and r["has_next"] is True
    assert r["filtered"] == ["lim-a"]

    assert isinstance(r["properties"], list) and len(r["properties"]) == 1
    assert r["properties"][0]["limit"]["properties"] == {"team": "a", "env": "prod"}

    history = r["reset"]["limit_history"]
    assert r["reset"]["message"] == "Limit has been successfully reset."
    assert history["limit_id"] == "lim-a" and history["limit_name"] == "team-a2" and history["max"] == 3.0
    assert history["totals"]["cost"]["total"]["base"] == pytest.approx(COST_50_100)
    assert history["totals"]["requests"]["ok"] == 1
    assert datetime.fromisoformat(history["limit_reset_timestamp"]) < datetime.fromisoformat(
        r["reset_no_date"]["limit_history"]["limit_reset_timestamp"]
    )
    assert r["reset_no_date"]["limit_history"]["totals"]["requests"]["total"] == 0
    after = r["after_reset"]["limit"]
    assert after["totals"]["cost"]["total"]["base"] == 0 and after["totals"]["requests"]["total"] == 0
    assert after["limit_creation_timestamp"] == created["limit_creation_timestamp"]

    assert r["deleted"]["request_id"] and r["deleted"]["message"]
    for gone in (r["gone"], r["gone_update"]):
        assert gone["error"] == "NotFoundError" and gone["body"]["xproxy_error"]["code"] == "limit_not_found"


def test_use_case_endpoints(live: Live) -> None:
    r = run_official(
        live,
        """
        from payi.lib.helpers import increment_kpi_score

        out = {}
        defs = client.use_cases.definitions
        out["created"] = dump(defs.create(
            name="support-bot", description="Answers tickets", logging_enabled=True,
            limit_config={"max": 2.0, "limit_type": "allow", "threshold": 0.9, "properties": {"tier": "gold"}},
        ))
        out["again"] = attempt(defs.create, name="support-bot", description="x")
        out["bad_name"] = attempt(defs.create, name="no spaces allowed", description="x")
        defs.create(name="plain", description="")
        out["retrieved"] = dump(defs.retrieve("support-bot"))
        out["updated"] = dump(defs.update("support-bot", description="Answers tickets fast", logging_enabled=False))
        out["listed"] = [d.name for d in defs.list(limit=1)]
        out["filtered"] = [d.name for d in defs.list(use_case_name="plain")]
        out["version"] = dump(defs.version.increment("support-bot"))
        out["config"] = dump(defs.limit_config.create("plain", max=5.0, limit_type="block"))

        kpis = defs.kpis
        out["kpi"] = dump(kpis.create("support-bot", name="resolved", description="closed", goal=0.8, kpi_type="boolean"))
        kpis.create("support-bot", name="messages", description="count", goal=10, kpi_type="number")
        out["kpi_retrieved"] = dump(kpis.retrieve("resolved", use_case_name="support-bot"))
        out["kpi_updated"] = dump(kpis.update("messages", use_case_name="support-bot", description="msgs", goal=12))
        out["kpi_list"] = [k.name for k in kpis.list("support-bot", limit=1)]
        out["kpi_filtered"] = [k.name for k in kpis.list("support-bot", kpi_name="messages")]

        instance = client.use_cases.create("support-bot")
        out["instance"] = dump(instance)
        uid = instance.use_case_id
        out["instance_limit"] = dump(client.limits.retrieve(instance.limit_id).limit)
        out["instance_retrieved"] = dump(client.use_cases.retrieve(uid, use_case_name="support-bot"))
        out["instance_props"] = dump(client.use_cases.properties.update(uid, use_case_name="support-bot", properties={"doc": "42"}))
        out["score_set"] = client.use_cases.kpis.update("resolved", use_case_name="support-bot", use_case_id=uid, score=True)
        out["incremented"] = [increment_kpi_score(client, "messages", "support-bot", uid) for _ in range(3)]
        out["scores"] = {k.kpi_name: [k.kpi_type, k.score] for k in client.use_cases.kpis.list(uid, use_case_name="support-bot")}
        out["bad_score"] = attempt(client.use_cases.kpis.update, "resolved", use_case_name="support-bot", use_case_id=uid, score=3)
        out["kpi_deleted"] = dump(kpis.delete("messages", use_case_name="support-bot"))
        out["kpi_gone"] = attempt(kpis.retrieve, "messages", use_case_name="support-bot")

        out["instance_deleted"] = dump(client.use_cases.delete(uid, use_case_name="support-bot"))
        out["instance_gone"] = attempt(client.use_cases.retrieve, uid, use_case_name="support-bot")
        out["config_deleted"] = dump(defs.limit_config.delete("plain"))
        out["def_deleted"] = dump(defs.delete("support-bot"))
        out["def_gone"] = attempt(defs.retrieve, "support-bot")
        result = out
        """,
    )
    created = r["created"]
    assert created["name"] == "support-bot" and created["description"] == "Answers tickets" and created["request_id"]
    assert created["limit_config"] == {"max": 2.0, "limit_type": "allow", "threshold": 0.9, "properties": {"tier": "gold"}}
    assert created["logging_enabled"] is True and created["type_version"] == 1
    assert r["again"]["error"] == "ConflictError" and r["again"]["body"]["xproxy_error"]["code"] == "use_case_already_exists"
    assert r["bad_name"]["error"] == "BadRequestError"
    assert r["bad_name"]["body"]["xproxy_error"]["code"] == "invalid_use_case_name"
    assert r["retrieved"]["description"] == "Answers tickets"
    assert r["updated"]["description"] == "Answers tickets fast" and r["updated"]["logging_enabled"] is False
    assert r["listed"] == ["support-bot", "plain"]
    assert r["filtered"] == ["plain"]
    assert r["version"]["type_version"] == 2
    assert r["config"]["limit_config"]["max"] == 5.0 and r["config"]["limit_config"]["limit_type"] == "block"

    assert r["kpi"]["name"] == "resolved" and r["kpi"]["kpi_type"] == "boolean" and r["kpi"]["goal"] == 0.8
    assert r["kpi"]["request_id"] and r["kpi_retrieved"]["description"] == "closed"
    assert r["kpi_updated"]["description"] == "msgs" and r["kpi_updated"]["goal"] == 12
    assert r["kpi_list"] == ["resolved", "messages"] and r["kpi_filtered"] == ["messages"]

    instance = r["instance"]
    assert instance["use_case_name"] == "support-bot" and instance["type_version"] == 2
    assert len(instance["use_case_id"]) == 36 and instance["limit_id"]
    limit = r["instance_limit"]
    assert (limit["max"], limit["limit_type"], limit["threshold"]) == (2.0, "allow", 0.9)
    assert r["instance_retrieved"]["limit_id"] == instance["limit_id"]
    assert r["instance_props"]["use_case_id"] == instance["use_case_id"]
    assert r["instance_props"]["properties"] == {"doc": "42"}
    assert r["score_set"] is None
    assert r["incremented"] == [True, True, True]
    assert r["scores"] == {"messages": ["number", 3.0], "resolved": ["boolean", 1.0]}
    assert r["bad_score"]["status"] == 400 and r["bad_score"]["body"]["xproxy_error"]["code"] == "invalid_kpi_score"
    assert r["kpi_deleted"]["name"] == "messages"
    assert r["kpi_gone"]["body"]["xproxy_error"]["code"] == "kpi_not_found"

    assert r["instance_deleted"]["use_case_id"] == instance["use_case_id"]
    assert r["instance_gone"]["error"] == "NotFoundError"
    assert r["instance_gone"]["body"]["xproxy_error"]["code"] == "use_case_instance_not_found"
    assert r["config_deleted"]["limit_config"] is None
    assert r["def_deleted"]["name"] == "support-bot"
    assert r["def_gone"]["body"]["xproxy_error"]["code"] == "use_case_not_found"


def test_async_client_pages_and_isolation(live: Live) -> None:
    r = run_official(
        live,
        """
        import asyncio
        from payi import AsyncPayi

        async def main():
            aclient = AsyncPayi(_strict_response_validation=True)
            for i in range(3):
                await aclient.limits.create(limit_name=f"a{i}", max=1 + i)
            names = [l.limit_name async for l in aclient.limits.list(limit=1)]
            await aclient.use_cases.definitions.create(name="async-uc", description="")
            instance = await aclient.use_cases.create("async-uc")
            return {"names": names, "instance": instance.use_case_name}

        result = asyncio.run(main())
        """,
    )
    assert r == {"names": ["a0", "a1", "a2"], "instance": "async-uc"}
    # The application's second key sees the same data; another application's key sees none of it.
    same_app = run_official(
        live,
        "result = sorted(d.name for d in client.use_cases.definitions.list())",
        api_key=live.boot.app_keys[1].plaintext,
    )
    assert same_app == ["async-uc"]
    created = httpx2.post(
        live.url + "/api/v1/admin/applications", json={"name": "other"}, headers={"xProxy-api-key": live.org_key}
    )
    assert created.status_code == 201, created.text
    other = run_official(
        live,
        """
        result = {
            "limits": [l.limit_id for l in client.limits.list()],
            "defs": [d.name for d in client.use_cases.definitions.list()],
            "missing": attempt(client.use_cases.definitions.retrieve, "async-uc"),
            "instance": attempt(client.use_cases.create, "async-uc"),
        }
        """,
        api_key=created.json()["keys"][0]["key"],
    )
    assert other["limits"] == [] and other["defs"] == []
    assert other["missing"]["error"] == "NotFoundError" and other["instance"]["status"] == 404
