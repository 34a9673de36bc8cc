"""The HTTP API (FastAPI), served by ``actsearch serve``."""

from actsearch.api.app import create_app

__all__ = ["create_app"]
