"""The rows of a usage read that belong to one customer's run.

Its own small module: the Spark backend's tasks import it (billing/runs.py
pulls in the database layer, which a task has no use for)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa

from rerate.rating.plan import Ownership


def owned_rows(usage: pa.Table, ownership: Sequence[Ownership], customer_id: int) -> pa.Table:
    """Keep the rows whose account this customer owned at usage_start.

    The rest belong to the other owner's run (where they are billed); leaving
    them in would list them here as unrated `account_not_owned`, counting the
    same usage in two runs' reports.
    """
    if not usage.num_rows:
        return usage
    mine = sorted(
        (o.account_id, _us(o.valid_from), _us(o.valid_to) if o.valid_to else _FOREVER)
        for o in ownership
        if o.customer_id == customer_id
    )
    if not mine:
        return usage.slice(0, 0)
    accounts = np.asarray(usage.column("account_id").to_numpy(), dtype=np.int64)
    starts = np.asarray(usage.column("usage_start").cast(pa.int64()).to_numpy(), dtype=np.int64)
    # Most accounts have one interval for the customer: one vectorised look-up
    # by account. Accounts it owned several times are matched interval by interval.
    ids = np.unique(np.array([a for a, _, _ in mine], dtype=np.int64))
    count = {int(a): 0 for a in ids}
    for a, _, _ in mine:
        count[a] += 1
    lo = np.zeros(len(ids), dtype=np.int64)
    hi = np.zeros(len(ids), dtype=np.int64)  # [0, 0): matches nothing
    for a, start, end in mine:
        if count[a] == 1:
            i = int(np.searchsorted(ids, a))
            lo[i], hi[i] = start, end
    pos = np.minimum(np.searchsorted(ids, accounts), len(ids) - 1)
    keep = (ids[pos] == accounts) & (starts >= lo[pos]) & (starts < hi[pos])
    for a, start, end in mine:
        if count[a] > 1:
            keep |= (accounts == a) & (starts >= start) & (starts < end)
    return usage if bool(keep.all()) else usage.filter(pa.array(keep))


_FOREVER = np.iinfo(np.int64).max


def _us(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)
