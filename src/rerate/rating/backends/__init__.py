"""Where a run's rows are rated: this process (`embedded`) or Apache Spark
(`spark`), chosen by RERATE_ENGINE (docs/scale-out.md).

A backend reads a run's usage (the canonical Parquet layout, usage/store.py),
rates it with the engine's own kernels and writes the run's files through the
run's `output.RunWriter`; the job system, publishing and everything after
stay as they are. Both give the same result, file for file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from rerate.kit.periods import Period
from rerate.kit.settings import get_settings
from rerate.rating.engine import RatingResult
from rerate.rating.output import RunWriter
from rerate.rating.plan import RatingPlan
from rerate.usage.store import UsageStore

# progress(fraction 0..1 of the whole job, message); lap(step name) for timings.
Progress = Callable[[float, str], None]
Lap = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RunUsage:
    """The usage a run reads: the store's visible imports between two
    instants for some accounts, each piece read then passed through `keep`
    (the rows the customer owned: billing/runs.owned_rows). `keep` is
    pickled to a distributed backend's tasks, so it is a module-level
    function or a functools.partial of one."""

    store: UsageStore
    visible: Collection[int]
    start_utc: datetime
    end_utc: datetime
    account_ids: Collection[int]
    keep: Callable[[pa.Table], pa.Table]


class Backend(Protocol):
    name: str

    def rate_run(
        self,
        usage: RunUsage,
        plan: RatingPlan,
        period: Period,
        writer: RunWriter,
        *,
        progress: Progress | None = None,
        lap: Lap | None = None,
    ) -> RatingResult:
        """Rate the run's usage, its rated and daily parts written by `writer`
        (the caller then calls writer.finish(result))."""
        ...


def configured(**overrides: Any) -> Backend:
    """The backend RERATE_ENGINE names."""
    settings = get_settings()
    if settings.engine == "spark":
        from rerate.rating.backends.spark import SparkBackend

        return SparkBackend.of_settings(settings)
    from rerate.rating.backends.embedded import EmbeddedBackend

    return EmbeddedBackend()
