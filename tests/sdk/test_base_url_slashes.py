"""A ``PAYI_BASE_URL`` with a trailing ``/``: our helpers drop it, and the server also serves the ``//api/...``
URLs the official SDK's helpers build from it (proxy and REST), on a real loopback port."""

from __future__ import annotations

import httpx2
import openai
import pytest

from payi.lib.helpers import payi_openai_url

from .instrument_env import MESSAGES, InstrumentEnv, fake_config, ienv

__all__ = ["fake_config", "ienv"]


def test_double_slash_proxy_and_rest_paths(ienv: InstrumentEnv, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAYI_BASE_URL", ienv.live.url + "/")
    assert payi_openai_url() == ienv.live.url + "/api/v1/proxy/openai/v1"
    official_style = ienv.live.url + "/" + "/api/v1/proxy/openai/v1"  # what the official helper returns
    client = ienv.closing(
        openai.OpenAI(api_key="sk", base_url=official_style, default_headers={"xProxy-api-key": ienv.key})
    )
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert completion.choices[0].message.content
    assert "xproxy_result" in (completion.model_extra or {})
    assert ienv.fake.last("openai.chat").path == "/v1/chat/completions"
    with httpx2.Client() as http:
        listed = http.get(ienv.live.url + "//api/v1/limits", headers={"xProxy-api-key": ienv.key})
        assert listed.status_code == 200 and "items" in listed.json()
        assert http.get(ienv.live.url + "//api/v1/nothing-here", headers={"xProxy-api-key": ienv.key}).status_code == 404
    (row,) = ienv.recorded(1)
    assert row["source"] != "ingest" and row["cost_total"] > 0
