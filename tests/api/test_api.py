"""Every endpoint against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from actsearch import activations
from actsearch.cli import app as cli
from actsearch.store.database import open_storage
from tests.api.conftest import DIGITS_SEARCHED_TEST, DIGITS_TUNED_RELU_TEST, populate
from tests.conftest import make_client


def test_healthz_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok",
                                             "version": client.app.version}  # type: ignore[attr-defined]
    client.get("/api/v1/recommendations/digits")
    text = client.get("/metrics").text
    assert 'actsearch_trials{state="complete"} 10.0' in text  # 3 studies x 3, 1 baseline
    assert "actsearch_studies 4.0" in text
    assert ('actsearch_api_requests_total{method="GET",route="/api/v1/recommendations/{dataset}",'
            'status="200"} 1.0') in text


def test_catalogue_and_datasets(client: TestClient) -> None:
    acts = client.get("/api/v1/activations").json()
    assert [a["name"] for a in acts] == activations.names()
    by_name = {a["name"]: a for a in acts}
    assert by_name["selu"]["init"]["scheme"] == "lecun"
    assert by_name["selu"]["init"]["dropout"] == "alpha"
    assert by_name["sinusoid"]["init"]["scheme"] == "siren"
    assert "Sitzmann" in by_name["sinusoid"]["init"]["source"]
    datasets = {d["name"]: d for d in client.get("/api/v1/datasets").json()}
    assert datasets["wine"]["studied"] and not datasets["iris"]["studied"]


def test_studies(client: TestClient) -> None:
    studies = client.get("/api/v1/studies").json()
    assert {s["name"] for s in studies} == {"digits-default", "wine-default", "diabetes-default",
                                            "digits-default--tuned-relu"}
    detail = client.get("/api/v1/studies/wine-default").json()
    assert detail["complete"] == 3 and detail["top_trials"][0]["activations"] == ["gelu", "gelu"]
    page = client.get("/api/v1/studies/wine-default", params={"top": 1, "offset": 1}).json()
    assert [t["activations"] for t in page["top_trials"]] == [["relu", "tanh"]]
    assert page["complete"] == 3  # the counts cover the whole study, the page its slice
    assert client.get("/api/v1/studies/wine-default", params={"top": 101}).status_code == 422
    missing = client.get("/api/v1/studies/nope")
    assert missing.status_code == 404
    assert "GET /api/v1/studies lists them" in missing.json()["detail"]


def test_recommendation_confirmed_and_unconfirmed(client: TestClient) -> None:
    digits = client.get("/api/v1/recommendations/digits").json()
    assert digits["activations"] == ["gelu", "gelu"] and digits["confirmed"]
    c = digits["confirmation"]
    assert c["n"] == 4 and c["verdict"] == digits["verdict"] and c["baseline"] == "tuned_relu"
    assert (c["baseline_mean"], c["baseline_n"]) == (pytest.approx(0.9445), 4)
    # Recomputed with scipy from the stored test scores (no per-example outcomes: Welch's
    # t-test over seeds): 0.963 against 0.9445, far beyond the seed spread.
    welch = scipy_stats.ttest_ind(DIGITS_SEARCHED_TEST, DIGITS_TUNED_RELU_TEST, equal_var=False)
    interval = welch.confidence_interval(0.95)
    assert welch.pvalue < 0.01 and interval.low > 0  # the fixture's data: clearly better
    assert c["method"] == "seeds"
    assert c["difference"] == pytest.approx(np.mean(DIGITS_SEARCHED_TEST)
                                            - np.mean(DIGITS_TUNED_RELU_TEST))
    assert c["p_value"] == pytest.approx(welch.pvalue)
    assert (c["ci_low"], c["ci_high"]) == (pytest.approx(interval.low),
                                           pytest.approx(interval.high))
    assert digits["verdict"] == "better than tuned ReLU" and digits["side"] == "search"
    relu = digits["baselines"]["tuned_relu"]
    assert relu["study"] == "digits-default--tuned-relu" and relu["activations"] == ["relu"] * 2
    assert relu["n"] == 4 and relu["trials"] == 1 and digits["source"] == "studies"
    assert digits["ablation"]["baseline"] == "relu_twin"  # the untuned twin: an ablation only
    wine = client.get("/api/v1/recommendations/wine").json()
    assert not wine["confirmed"] and wine["verdict"].startswith("unconfirmed")
    missing = client.get("/api/v1/recommendations/iris")
    assert missing.status_code == 404
    assert "run `actsearch search --dataset iris` first" in missing.json()["detail"]


def test_cli_and_api_agree(client: TestClient, populated: str) -> None:
    for dataset in ("digits", "wine", "diabetes"):
        api = client.get(f"/api/v1/recommendations/{dataset}").json()
        result = CliRunner().invoke(cli, ["recommend", dataset, "--storage", populated,
                                          "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == api  # one model, one schema: the same document


def test_similar_by_meta_features_and_upload(client: TestClient) -> None:
    near = client.post("/api/v1/recommendations/similar", json={
        "meta": {"samples": 200, "features": 12, "classes": 3, "class_balance": 0.7,
                 "task": "multiclass"}, "k": 20}).json()
    distances = [s["distance"] for s in near["similar"]]
    assert distances == sorted(distances)
    # The shipped knowledge base answers beside the user's studies, each saying which it is.
    studied = [s for s in near["similar"] if s["recommendation"]["source"] == "studies"]
    known = [s for s in near["similar"] if s["recommendation"]["source"] == "knowledge base"]
    assert near["similar"][0]["dataset"] == "wine" == studied[0]["recommendation"]["dataset"]
    assert known and all(s["dataset"].startswith("keel:") for s in known)
    assert "--warm-start" in near["warm_start"] and "tuned ReLU" in near["evidence"]
    digits = client.post("/api/v1/recommendations/similar", json={
        "meta": {"samples": 1797, "features": 64, "classes": 10, "class_balance": 0.95,
                 "task": "multiclass"}, "k": 1}).json()
    assert digits["similar"][0]["dataset"] == "digits"
    assert digits["similar"][0]["recommendation"]["source"] == "studies"
    regression = client.post("/api/v1/recommendations/similar", json={
        "meta": {"samples": 400, "features": 9, "task": "regression"}, "k": 1}).json()
    assert regression["similar"][0]["dataset"] == "diabetes"  # the only regression known
    csv = "a,b,c,label\n" + "\n".join(f"{i},{i % 7},{i % 3},{'x' if i % 3 else 'y'}"
                                      for i in range(150))
    upload = client.post("/api/v1/recommendations/similar/upload",
                         files={"file": ("s.csv", csv, "text/csv")}, data={"k": "1"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["query"]["classes"] == 2 and upload.json()["query"]["features"] == 3


def test_upload_limits_and_bad_bodies(client: TestClient) -> None:
    big = "a,b\n" + "1,2\n" * 300_000
    too_big = client.post("/api/v1/recommendations/similar/upload",
                          files={"file": ("big.csv", big, "text/csv")})
    assert too_big.status_code == 413 and "over 1 MiB" in too_big.json()["detail"]
    # Over the body limit (2 MiB): refused from its Content-Length, before a byte is read.
    huge = client.post("/api/v1/recommendations/similar/upload",
                       files={"file": ("huge.csv", b"1,2\n" * 800_000, "text/csv")})
    assert huge.status_code == 413 and "request body is over" in huge.json()["detail"]

    def chunks():  # type: ignore[no-untyped-def]  # a body with no length announced
        yield b"a,b\n"

    chunked = client.post("/api/v1/recommendations/similar", content=chunks(),
                          headers={"Content-Type": "application/json"})
    assert chunked.status_code == 411
    garbage = client.post("/api/v1/recommendations/similar/upload",
                          files={"file": ("x.csv", b"\xff\xfe\x00", "text/csv")})
    assert garbage.status_code == 400
    holes = "a,label\n" + "\n".join(f"{i},{'x' if i % 3 else ''}" for i in range(30))
    missing = client.post("/api/v1/recommendations/similar/upload",
                          files={"file": ("h.csv", holes, "text/csv")})
    assert missing.status_code == 400 and "empty cells" in missing.json()["detail"]
    invalid = client.post("/api/v1/recommendations/similar", json={"meta": {"samples": -1}})
    assert invalid.status_code == 422
    assert any(e["loc"][-1] == "samples" for e in invalid.json()["detail"])


def test_write_endpoints_auth(populated: str) -> None:
    with make_client(populated) as disabled:
        r = disabled.post("/api/v1/studies", json={"dataset": "iris"})
        assert r.status_code == 403 and "ACTSEARCH_API_TOKEN" in r.json()["detail"]
    with make_client(populated, api_token="s3cret") as c:
        assert c.post("/api/v1/studies", json={}).status_code == 401
        wrong = c.post("/api/v1/studies", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        bad = c.post("/api/v1/studies", json={"dataset": "mnits"},
                     headers={"Authorization": "Bearer s3cret"})
        assert bad.status_code == 400 and "unknown dataset" in bad.json()["detail"]
        invalid = c.post("/api/v1/studies", json={"trials": 0},
                         headers={"Authorization": "Bearer s3cret"})
        assert invalid.status_code == 422


def test_read_token(populated: str) -> None:
    with make_client(populated, api_read_token="r", api_token="w") as c:
        assert c.get("/api/v1/recommendations/wine").status_code == 401
        assert c.get("/api/v1/recommendations/wine",
                     headers={"Authorization": "Bearer x"}).status_code == 403
        for token in ("r", "w"):
            assert c.get("/api/v1/recommendations/wine",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.get("/healthz").status_code == 200  # liveness stays open
        assert c.get("/metrics").status_code == 401  # study names are data too
        assert c.get("/metrics", headers={"Authorization": "Bearer r"}).status_code == 200


def test_names_in_paths_are_data(client: TestClient, populated: str) -> None:
    for name in ("'; DROP TABLE studies; --", "wine-default' OR '1'='1", "%00", "..%2F.."):
        assert client.get(f"/api/v1/studies/{name}").status_code == 404
        assert client.get(f"/api/v1/recommendations/{name}").status_code == 404
    assert len(open_storage(populated).get_all_studies()) == 4


def test_errors_never_reveal_the_storage(tmp_path: Path) -> None:
    db = tmp_path / "secret-name.db"
    url = f"sqlite:///{db}"
    populate(url)
    with make_client(url) as c:
        # Really break the database: close pooled connections, then put a folder where the
        # file was, so every new connection fails.
        c.app.state.database.dispose()  # type: ignore[attr-defined]
        db.unlink()
        db.mkdir()
        health = c.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == "unavailable"
        down = c.get("/api/v1/studies")
        assert down.status_code == 503
        for body in (health.text, down.text):
            assert "secret-name" not in body and "Traceback" not in body


def test_api_docs_work_offline(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html.text)
        refs += re.findall(r"""url:\s*["']([^"']+)""", html.text)
        assert refs and not [r for r in refs if "//" in r], refs  # no host: nothing external
        for ref in refs:
            assert client.get(ref).status_code == 200, ref  # every asset is served here
