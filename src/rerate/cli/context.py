"""What every CLI command shares: settings, the database, the acting user."""

from __future__ import annotations

from functools import lru_cache

from rerate.kit.db import Database
from rerate.kit.settings import Settings, get_settings


def settings() -> Settings:
    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    return s


@lru_cache(maxsize=1)
def database() -> Database:
    s = settings()
    return Database(s.resolved_database_url, **s.database_options())
