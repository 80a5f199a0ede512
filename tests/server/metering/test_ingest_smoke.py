from __future__ import annotations

from ...conftest import Running


async def test_ingest_prices_bedrock_haiku(running: Running) -> None:
    body = {"category": "system.aws.bedrock", "resource": "anthropic.claude-3-haiku-20240307-v1:0", "units": {"text": {"input": 50, "output": 100}}}
    response = await running.client.post("/api/v1/ingest", json=body, headers=running.headers())
    assert response.status_code == 200, response.text
    result = response.json()["xproxy_result"]
    print(result)
    assert result["cost"]["input"]["base"] == 1.25e-05
    assert result["cost"]["output"]["base"] == 0.000125
    assert result["cost"]["total"]["base"] == 0.0001375
