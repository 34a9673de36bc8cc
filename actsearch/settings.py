"""All configuration in one place: ``ACTSEARCH_*`` environment variables (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORAGE = "sqlite:///actsearch.db"


class Settings(BaseSettings):
    """actsearch's settings.

    Attributes:
        storage: SQLAlchemy URL of the study database (any URL Optuna accepts).
        ray_address: An existing Ray cluster; empty joins the local Ray that is up (`ray
            start --head`, or one kept by an earlier search), or starts one on demand.
        ray_keep_seconds: How long a local Ray that a search started is kept up after the
            last search using it ends, so the next search skips Ray's start and stop (several
            seconds each); 0 starts a Ray for each search and stops it when it ends.
        data_dir: Where downloaded or user-provided image datasets live.
        artifacts_dir: Where trial figures are stored (the dashboard reads them there).
        api_token: Bearer token for the API's write endpoints (unset disables them).
        api_read_token: Bearer token for read endpoints (unset leaves them open).
        metrics_port: Port of the search driver's Prometheus endpoint (0 = off).
        api_max_searches: Searches the API runs at once; more get HTTP 429.
        api_max_body_bytes: Largest request body the API reads (2 MiB: a 1 MiB CSV sample
            and its form).
        storage_patience_seconds: How long a search waits for an unreachable database (a
            restart, a failover) before it stops; re-running it then resumes.
        knowledge_base: A knowledge-base file to answer unseen datasets from, instead of the
            one shipped in the package (``actsearch corpus distill`` writes one).
    """

    model_config = SettingsConfigDict(env_prefix="ACTSEARCH_", env_file=".env", extra="ignore")

    storage: str = DEFAULT_STORAGE
    ray_address: str | None = Field(default=None, validation_alias="RAY_ADDRESS")
    data_dir: Path = Path.home() / ".cache" / "actsearch" / "data"
    artifacts_dir: Path = Path("actsearch-artifacts")
    api_token: str | None = None
    api_read_token: str | None = None
    metrics_port: int = 0
    knowledge_base: Path | None = None
    api_max_body_bytes: int = Field(default=2 << 20, ge=1024)
    api_max_searches: int = Field(default=2, ge=1)
    storage_patience_seconds: float = Field(default=300.0, ge=0)
    ray_keep_seconds: float = Field(default=600.0, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
