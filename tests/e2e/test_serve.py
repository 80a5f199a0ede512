"""``payi-server serve`` on its embedded default: first start, restart, keys shown once."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx2

from .servers import run_server


def test_first_start_prints_keys_once_and_they_work(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        assert set(server.keys) == {"org", "app1", "app2"}
        assert "will not be shown again" in server.output or "shown ONCE" in server.output
        assert (tmp_path / "data" / "payi.db").exists()
        secret = tmp_path / "data" / "secret.key"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        who = httpx2.get(server.url + "/api/v1/whoami", headers={"xProxy-api-key": server.keys["app1"]})
        assert who.json()["app_name"] == "default"
        apps = httpx2.get(server.url + "/api/v1/admin/applications", headers={"xProxy-api-key": server.keys["org"]})
        assert [a["name"] for a in apps.json()["items"]] == ["default"]
        assert httpx2.get(server.url + "/healthz").json() == {"status": "ok"}
        first_keys = dict(server.keys)
        log = server.output
        for key in first_keys.values():
            # printed once on the console block, never inside a structured log line
            assert sum(1 for line in log.splitlines() if key in line and line.startswith("{")) == 0
    with run_server(tmp_path) as again:
        assert again.keys == {}
        who = httpx2.get(again.url + "/api/v1/whoami", headers={"xProxy-api-key": first_keys["app2"]})
        assert who.status_code == 200


def test_huge_headers_and_bodies_get_4xx(tmp_path: Path) -> None:
    with run_server(tmp_path, env={"PAYI_SERVER_MAX_BODY_BYTES": "65536"}) as server:
        org = {"xProxy-api-key": server.keys["org"]}
        huge = httpx2.get(server.url + "/api/v1/whoami", headers={"xProxy-api-key": "x" * 200_000})
        assert 400 <= huge.status_code < 500
        big = httpx2.post(server.url + "/api/v1/admin/applications", headers=org, content=b"x" * 200_000)
        assert big.status_code == 413
        assert big.json()["xproxy_error"]["code"] == "request_too_large"
        many = httpx2.get(server.url + "/api/v1/whoami", headers={**org, **{f"x-h{i}": "v" * 100 for i in range(300)}})
        assert 200 <= many.status_code < 500
        assert httpx2.get(server.url + "/healthz").status_code == 200


def test_two_workers_share_the_port_and_stop_cleanly(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with run_server(tmp_path, env={"PAYI_SERVER_WORKERS": "2"}) as server:
        key = {"xProxy-api-key": server.keys["app1"]}
        body = {"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 10}}}

        def ingest(_: int) -> int:
            return httpx2.post(server.url + "/api/v1/ingest", json=body, headers=key, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(ingest, range(40)))
        assert statuses == [200] * 40
        # any worker answers a scrape with the sum over both
        metrics = httpx2.get(server.url + "/metrics").text
        assert 'payi_events_recorded_total{source="ingest"} 40.0' in metrics
        # the supervisor brought the price catalog in before the workers started (they never sync it themselves)
        priced = httpx2.post(server.url + "/api/v1/ingest", json=body, headers=key, timeout=30).json()
        assert priced["xproxy_result"]["cost"]["total"]["base"] > 0, priced
        process = server.process
    assert process.returncode == 0 or process.returncode == -15
    log = server.output
    assert log.count("Application startup complete") == 2
    assert log.count("Application shutdown complete") == 2
