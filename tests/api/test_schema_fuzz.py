"""Property-based runs of the API against its own OpenAPI schema: no 5xx, whatever the input,
with writes disabled (the default) and enabled (real background searches, at most one at a
time; those the fuzzer starts are stopped afterwards)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from actsearch.api import create_app
from actsearch.settings import Settings
from tests.api.conftest import populate

TOKEN = "fuzz-write-token"
_DB = Path(tempfile.mkdtemp(prefix="actsearch-fuzz-")) / "fuzz.db"
populate(f"sqlite:///{_DB}")
# Writes stay disabled (no token): generated bodies must never start real searches.
app = create_app(Settings(storage=f"sqlite:///{_DB}"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
writable = create_app(Settings(storage=f"sqlite:///{_DB}", api_token=TOKEN,
                               api_max_searches=1))
writable_schema = schemathesis.openapi.from_asgi("/openapi.json", writable)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    case.validate_response(response, checks=(not_a_server_error,))


@pytest.fixture(scope="module")
def stop_started_searches() -> Iterator[None]:
    yield
    for process in writable.state.searches.processes.values():
        with contextlib.suppress(ProcessLookupError):  # it ended by itself
            os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait()


@writable_schema.include(method="POST").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_with_writes_enabled(case: schemathesis.Case,
                                              stop_started_searches: None) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=(not_a_server_error,))
