"""Typed settings read from the environment (prefix `RERATE_`).

Every field is documented in docs/configuration.md. Unsafe defaults are
refused in production: there the database must be named explicitly rather
than falling back to an SQLite file under the working directory.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RERATE_", extra="ignore")

    env: Literal["development", "production", "test"] = Field(
        "development", description="Deployment environment; production refuses unsafe defaults."
    )
    data_dir: Path = Field(
        Path(".rerate"), description="Directory for the SQLite file, usage and billing-run Parquet."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the operational store; default sqlite:///<data_dir>/rerate.db.",
    )
    host: str = Field("127.0.0.1", description="Address `rerate serve` binds to.")
    port: int = Field(8000, description="Port `rerate serve` listens on.")
    session_max_age_s: int = Field(8 * 3600, description="Lifetime of a web session, seconds.")
    login_max_failures: int = Field(
        5, ge=1, description="Wrong passwords for one account within the window before it locks."
    )
    login_address_max_failures: int = Field(
        20,
        ge=1,
        description="Failed logins from one client address within the window before it locks.",
    )
    login_window_s: int = Field(900, ge=1, description="Window failed logins are counted in, s.")
    login_lockout_s: int = Field(
        900,
        ge=1,
        description="First lockout, seconds; each further one in a row lasts twice as long.",
    )
    login_lockout_max_s: int = Field(86400, ge=1, description="Longest lockout, seconds.")
    password_min_length: int = Field(
        10, ge=8, description="Shortest password accepted when one is set (users CLI and API)."
    )
    in_process_worker: bool = Field(
        True, description="`rerate serve` also runs one job worker in-process."
    )
    auth_cache_s: float = Field(
        5.0,
        ge=0,
        description="How long a process reuses a verified API key or web session without asking "
        "the database again (0: never). Logout, revocation and role changes made through this "
        "process apply at once; other processes see them within this time.",
    )
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="`rerate worker` lowers its CPU priority by this much (Unix nice), so "
        "rating yields the processor to the API's requests; idle cores still go to rating.",
    )
    worker_lease_s: int = Field(30, description="Job lease; a worker renews it every lease/3 s.")
    worker_poll_s: float = Field(1.0, description="How often an idle worker looks for jobs.")
    worker_batch_size: int = Field(
        200,
        ge=1,
        le=5000,
        description="Recalculation jobs of one period a worker claims and runs together "
        "(one catalog snapshot, one usage scan, each job published on its own); 1 runs "
        "them one at a time.",
    )
    max_upload_bytes: int = Field(
        1 << 30,
        ge=1,
        description="Largest upload (multipart body) accepted, bytes; larger ones get 413.",
    )
    max_body_bytes: int = Field(
        64 << 20,
        ge=1,
        description="Largest other request body (JSON, forms) accepted, bytes; larger get 413.",
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        description="Database connections each process keeps open (SQLAlchemy pool_size).",
    )
    db_max_overflow: int = Field(
        10,
        ge=0,
        description="Extra connections a process may open beyond db_pool_size at peaks "
        "(job worker, API-key last-use marks).",
    )
    db_pool_timeout_s: float = Field(
        10.0,
        gt=0,
        description="How long a request waits for a free connection before answering 503 "
        "DatabaseBusy (requests queue for a session first, so this is a safety net).",
    )
    db_sessions: int | None = Field(
        None,
        ge=1,
        description="Read requests (GET) that may hold a database session at once per process; "
        "writes get half as many slots of their own. The rest wait their turn without holding "
        "a thread or a connection. Default: db_pool_size.",
    )
    sqlite_busy_timeout_s: float = Field(
        30.0,
        gt=0,
        description="SQLite: how long a write waits for the write lock before answering 503 "
        "DatabaseBusy.",
    )
    secret_key: str | None = Field(
        None,
        description="Key that seals the regions' connection secrets at rest (at least 32 "
        "characters); unset: a random key kept in <data_dir>/secret.key (docs/collection.md).",
    )
    demo_scale: float = Field(
        1.0, description="Scale of the demo dataset's usage volume (1.0 = >1 M rows)."
    )
    engine: Literal["embedded", "spark"] = Field(
        "embedded",
        description="Where recalculation and billing runs rate their rows: `embedded` (this "
        "process, all cores) or `spark` (Apache Spark, `pip install 'rerate[spark]'`; "
        "docs/scale-out.md). Results are identical.",
    )
    spark_master: str = Field(
        "local[2]",
        description="Spark master when engine=spark: local[N], spark://host:7077, k8s://..., yarn.",
    )
    spark_conf: str = Field(
        "",
        description="Further Spark options when engine=spark, `key=value` pairs separated by "
        "spaces (e.g. `spark.executor.memory=4g spark.executor.instances=8`).",
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env == "production" and not self.database_url:
            raise ValueError("RERATE_DATABASE_URL must be set in production")
        if self.env == "production" and os.environ.get("RERATE_CRASH_AT"):
            # Crash points (kit/crash.py) are for tests; kit.crash ignores them
            # in production anyway, but a stray one says the host is misconfigured.
            raise ValueError("RERATE_CRASH_AT is for tests and is refused in production")
        return self

    @property
    def session_slots(self) -> tuple[int, int]:
        """(reads, writes) that may hold a database session at once (api/gate.py)."""
        reads = self.db_sessions or self.db_pool_size
        return reads, max(1, reads // 2)

    def database_options(self) -> dict[str, float | int]:
        """Keyword arguments for `kit.db.Database` (pool and busy timeout)."""
        return {
            "pool_size": self.db_pool_size,
            "max_overflow": self.db_max_overflow,
            "pool_timeout_s": self.db_pool_timeout_s,
            "busy_timeout_s": self.sqlite_busy_timeout_s,
        }

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'rerate.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
