"""Named crash points, for tests that kill a real process half-way through.

`point("publish.in_transaction")` kills the process with SIGKILL (no
cleanup, no flush, no rollback: what a power cut or the OOM killer does) when
the environment variable `RERATE_CRASH_AT` names that point, and does nothing
otherwise. The variable is read once, at import: a point costs one comparison
with None. Production (`RERATE_ENV=production`) never honours it, and its
settings refuse to start with it set (kit/settings.py).

The points (docs/operations.md, "Crash safety"):

    import.after_files           usage files written, import row not committed
    recalculation.after_files    new run directory written, nothing recorded
    publish.in_transaction       run recorded and switched, cache rebuilt, not committed
    refresh.after_cancel         old invoice cancelled, new one not inserted
    issue.after_number           number taken from the series, not committed
"""

from __future__ import annotations

import os
import signal

POINTS = frozenset(
    {
        "import.after_files",
        "recalculation.after_files",
        "publish.in_transaction",
        "refresh.after_cancel",
        "issue.after_number",
    }
)

_AT = os.environ.get("RERATE_CRASH_AT") if os.environ.get("RERATE_ENV") != "production" else None


def point(name: str) -> None:
    """Die here, at once, if `RERATE_CRASH_AT` is `name`."""
    if _AT is not None and name == _AT:
        os.kill(os.getpid(), signal.SIGKILL)
