"""Schemathesis against a real relay process: every operation of ``/v1/openapi.json``,
with generated bodies and path parameters, without auth, with a program's session and
with a participant's token, and with real ids in the path: never a 5xx.

The example count is kept small for CI (``QUIETLINE_SCHEMATHESIS_EXAMPLES``, default
25 an operation); each case is sent in four ways, so the whole run is a few thousand
requests against one relay.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from relay_helpers import b64, enroll_program, open_conversation
from relay_process import RelayProcess, start_relay

from server import openapi

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("QUIETLINE_SCHEMATHESIS_EXAMPLES", "25"))
schema = schemathesis.openapi.from_dict(openapi.document())


@dataclass
class Target:
    relay: RelayProcess
    pid: str
    cid: str
    program_token: str
    participant_token: str


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    # generous limits: the point is the answers to bad input, not the rate limits
    relay = start_relay(
        tmp,
        QUIETLINE_LIMIT_BUNDLES_PER_PROGRAM="100000",
        QUIETLINE_LIMIT_CONVERSATIONS_PER_PROGRAM="100000",
        QUIETLINE_LIMIT_CHALLENGES_PER_PROGRAM="100000",
    )

    async def setup() -> Target:
        async with httpx.AsyncClient(base_url=relay.url, timeout=30) as c:
            program = await enroll_program(c, relay.db_path, relay.url, prekeys=5)
            cid, token = await open_conversation(c, program)
            return Target(relay, program.pid, b64(cid), program.session, token)

    try:
        yield asyncio.run(setup())
    finally:
        relay.stop()
        log = relay.log_path.read_text(errors="replace")
        assert "ERROR" not in log and "Traceback" not in log, log


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx(case: schemathesis.Case, target: Target) -> None:
    real = dict(case.path_parameters or {})
    if "pid" in real:
        real["pid"] = target.pid
    if "cid" in real:
        real["cid"] = target.cid
    variants = [
        (case.path_parameters, {}),
        (case.path_parameters, {"authorization": f"Bearer {target.program_token}"}),
        (real, {"authorization": f"Bearer {target.program_token}"}),
        (real, {"authorization": f"Bearer {target.participant_token}"}),
    ]
    for path_parameters, headers in variants:
        case.path_parameters = path_parameters
        response = case.call(base_url=target.relay.url, headers=headers, timeout=30)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
