"""A write commits before its answer is sent: a failed commit is an error answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import ApiKey
from tests.api.live import LiveServer
from tests.world import World


@pytest.fixture
def failing_commit() -> Iterator[dict[str, bool]]:
    """While `armed`, the commit of a session that inserted the API key named
    "ci" fails, as a lost connection or a deferred constraint would at COMMIT."""
    switch = {"armed": False}

    def refuse(session: Session) -> None:
        if switch["armed"] and session.info.get("wrote"):
            raise RuntimeError("commit failed")

    def wrote(session: Session, _context: object) -> None:
        if any(isinstance(o, ApiKey) and o.name == "ci" for o in session.new):
            session.info["wrote"] = True

    event.listen(Session, "before_commit", refuse)
    event.listen(Session, "after_flush", wrote)
    yield switch
    event.remove(Session, "before_commit", refuse)
    event.remove(Session, "after_flush", wrote)


def test_a_failed_commit_is_an_error_answer_not_a_201(
    database: Database, data_dir: Path, world: World, failing_commit: dict[str, bool]
):
    with database.session() as s:
        before = s.scalar(select(func.count()).select_from(ApiKey))
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test")
    app = create_app(settings, database)
    # A real server: the TestClient turns any late exception into a 500 and
    # would hide an answer sent before its commit.
    with LiveServer(app) as live:
        failing_commit["armed"] = True
        r = httpx.post(
            f"{live.url}/api/v1/api-keys",
            json={"name": "ci"},
            headers=world.headers("platform_admin"),
        )
    assert r.status_code >= 500, r.text
    assert "rr_" not in r.text  # a key that was never stored is not handed out
    failing_commit["armed"] = False
    with Session(database.engine) as s:
        assert s.scalar(select(func.count()).select_from(ApiKey)) == before
