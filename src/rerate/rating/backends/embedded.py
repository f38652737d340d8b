"""The embedded backend: the run's usage read into this process and rated on
all its cores (engine.rate), parts streamed to the run's writer."""

from __future__ import annotations

from rerate.kit.periods import Period
from rerate.rating import engine
from rerate.rating.backends import Lap, Progress, RunUsage
from rerate.rating.engine import RatingResult
from rerate.rating.output import RunWriter
from rerate.rating.plan import RatingPlan


class EmbeddedBackend:
    name = "embedded"

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
        rows = usage.keep(
            usage.store.scan(
                usage.visible,
                start_utc=usage.start_utc,
                end_utc=usage.end_utc,
                account_ids=usage.account_ids,
                columns=engine.USAGE_COLUMNS,  # what the rater reads, no more
                # The engine orders what it allocates (profiles, tiers) by
                # itself; the run's rated rows then follow storage order.
                ordered=False,
                skip_null_columns=True,  # the rater takes a missing column as null
            )
        )
        if lap:
            lap("read")
        if progress:
            progress(0.3, f"{rows.num_rows} usage rows read")
        # Rated rows stream to Parquet chunk by chunk while rating goes on, so
        # a large customer-month never holds its per-row table in memory whole.
        return engine.rate(rows, plan, period, part_sink=writer.write_part)
