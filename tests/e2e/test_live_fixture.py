from __future__ import annotations

import httpx2

from ..conftest import Live


def test_live_server_answers_with_bootstrap_keys(live: Live) -> None:
    response = httpx2.get(live.url + "/api/v1/whoami", headers={"xProxy-api-key": live.app_key})
    assert response.status_code == 200
    assert response.json()["app_name"] == "default"
