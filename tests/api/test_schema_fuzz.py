"""Property-based run of the API against its own OpenAPI schema: no 5xx, whatever the input."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from actsearch.api import create_app
from actsearch.settings import Settings
from tests.api.conftest import populate

_DB = Path(tempfile.mkdtemp(prefix="actsearch-fuzz-")) / "fuzz.db"
populate(f"sqlite:///{_DB}")
# Writes stay disabled (no token): generated bodies must never start real searches.
app = create_app(Settings(storage=f"sqlite:///{_DB}"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    case.validate_response(response, checks=(not_a_server_error,))
