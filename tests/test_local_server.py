"""`python -m handler` with the demo backend: what a newcomer sees after `make local`."""

from __future__ import annotations

import httpx

from tests.loopback import serve_process, timed_chunks


def test_python_m_handler_serves_healthz_and_streams_the_demo_story_over_time():
    with serve_process({"BACKEND": "demo", "DEMO_TOKEN_DELAY": "0.02"}) as (base, _):
        assert httpx.get(base + "/healthz").json() == {"status": "ok", "backend": "demo"}
        with httpx.stream("POST", base + "/invoke", json={"prompt": "Tell me a story"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = timed_chunks(response)
    assert len(chunks) > 10, "the story arrives as many chunks, not one"
    first, last = chunks[0][0], chunks[-1][0]
    assert last - first > 0.2, "events are spread over time, not delivered in one burst"
    body = b"".join(chunk for _, chunk in chunks)
    assert body.count(b"data: ") == len(chunks)
    assert body.endswith(b"\n\n")
    assert b"event: done" in body


def test_bad_configuration_fails_at_startup_with_one_clear_line():
    import subprocess
    import sys

    from tests.loopback import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "handler"],
        cwd=ROOT,
        env={"BACKEND": "nonsense", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "streamgate: bad configuration: BACKEND='nonsense' is not one of agentcore, bedrock, demo"
    ]
