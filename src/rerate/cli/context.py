"""What every CLI command shares: settings, the database, the acting user."""

from __future__ import annotations

import getpass
import os
from functools import lru_cache
from typing import TYPE_CHECKING

from rerate.kit.db import Database
from rerate.kit.settings import Settings, get_settings

if TYPE_CHECKING:  # the models load only for commands that use them
    from sqlalchemy.orm import Session

    from rerate.auth.permissions import Principal
    from rerate.kit.audit import Actor


def settings() -> Settings:
    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    return s


@lru_cache(maxsize=1)
def database() -> Database:
    s = settings()
    return Database(s.resolved_database_url, **s.database_options())


def os_user() -> str:
    """The operating-system account running the command (the audit trail's
    "who" for the CLI: there is no login, but there is a shell user)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return f"uid{os.getuid()}"


def cli_actor(principal: Principal | None = None) -> Actor:
    """`cli:<os user>`, or `cli:<os user> as <email>` when acting for a user (`--as`)."""
    from rerate.kit.audit import Actor

    label = f"cli:{os_user()}"
    if principal is None:
        return Actor(None, label)
    return Actor(principal.user_id, f"{label} as {principal.email}")


def act_as(session: Session, principal: Principal) -> None:
    """Attribute the session's changes to `principal`, run from this shell."""
    from rerate.kit.audit import set_session_actor

    set_session_actor(session, cli_actor(principal))
