"""Recently verified credentials, per process, for a few seconds.

Why: authenticating an API key or a web session costs four to six queries
(key or session, user, role assignments, their nodes) -- about as much as the
list the caller asked for. A machine client sends many requests a second with
the same key; for `ttl_s` seconds the principal found for it is reused.

Keyed by the SHA-256 of the presented secret (what the database stores, so
the cache holds nothing the database does not). An entry is dropped as soon
as this process commits a change to users, role assignments, API keys, web
sessions or nodes (logout, a role granted or taken away, a key revoked); other
processes (`rerate serve --workers N`, several hosts) notice within `ttl_s`.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from rerate.auth.permissions import Principal
from rerate.models import ApiKey, Node, RoleAssignment, User, WebSession

_AUTH_MODELS = (ApiKey, Node, RoleAssignment, User, WebSession)
_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()
_caches_lock = threading.Lock()


class PrincipalCache:
    """An LRU of (kind, digest) -> principal, each entry valid for `ttl_s` seconds."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()
        with _caches_lock:
            _caches.add(self)

    def get(self, kind: str, digest: str) -> Principal | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            entry = self._entries.get((kind, digest))
            if entry is None:
                return None
            expires, principal = entry
            if expires <= time.monotonic():
                del self._entries[(kind, digest)]
                return None
            self._entries.move_to_end((kind, digest))
            return principal

    def put(self, kind: str, digest: str, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._entries[(kind, digest)] = (time.monotonic() + self.ttl_s, principal)
            self._entries.move_to_end((kind, digest))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, kind: str, digest: str) -> None:
        with self._lock:
            self._entries.pop((kind, digest), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def forget_all() -> None:
    """Drop every cached principal in this process."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.clear()


@event.listens_for(Session, "after_flush")
def _note_auth_change(session: Session, _context: Any) -> None:
    # Before the flush's lists are reset: they still name what it wrote.
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, _AUTH_MODELS) for obj in changed):
        session.info["auth_changed"] = True


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    if session.info.pop("auth_changed", False):
        forget_all()


@event.listens_for(Session, "after_rollback")
def _nothing_changed(session: Session) -> None:
    session.info.pop("auth_changed", None)
