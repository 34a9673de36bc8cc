"""Dependencies of the API: the study database and bearer-token checks."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from optuna.storages import RDBStorage

from actsearch.service import ReaderStorage
from actsearch.settings import Settings

_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_storage(request: Request) -> RDBStorage:
    """The app's study database (async: FastAPI runs sync dependencies in a thread pool,
    which costs more than this whole request; the storage is opened once)."""
    database: ReaderStorage = request.app.state.database
    return database.get()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StorageDep = Annotated[RDBStorage, Depends(get_storage)]


def _check(credentials: HTTPAuthorizationCredentials | None, *tokens: str) -> None:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token: send "
                            "'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    # Compare in constant time against every accepted token.
    if not any(secrets.compare_digest(credentials.credentials.encode(), t.encode())
               for t in tokens):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the bearer token is not valid here")


async def require_read(settings: SettingsDep, credentials: Credentials) -> None:
    """Reads are open unless ACTSEARCH_API_READ_TOKEN is set (the write token also reads)."""
    if settings.api_read_token:
        _check(credentials, *(t for t in (settings.api_read_token, settings.api_token) if t))


async def require_write(settings: SettingsDep, credentials: Credentials) -> None:
    """Writes need ACTSEARCH_API_TOKEN; without one configured they are disabled."""
    if not settings.api_token:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "write endpoints are disabled: set "
                            "ACTSEARCH_API_TOKEN on the server to enable them")
    _check(credentials, settings.api_token)


def is_plain_name(name: str) -> bool:
    """Study and dataset names never hold control characters (PostgreSQL refuses NUL)."""
    return 0 < len(name) <= 512 and not any(ord(c) < 32 for c in name)


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
