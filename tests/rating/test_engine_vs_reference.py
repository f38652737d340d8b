"""Property tests: the vectorised engine agrees exactly with the reference rater."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rerate.kit.periods import Period
from rerate.rating.plan import RatingPlan

from .helpers import compare
from .strategies import cdr_rows, cloud_rows, periods, plans

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def prefixes_of(plan: RatingPlan) -> tuple[str, ...]:
    assert plan.price_book is not None
    return tuple(sorted({t.prefix for v in plan.price_book.versions for t in v.tariffs}))


@st.composite
def cdr_scenarios(draw: st.DrawFn) -> tuple[list[dict[str, object]], RatingPlan, Period]:
    period = draw(periods())
    plan = draw(plans(period, cloud=False))
    return draw(cdr_rows(period, prefixes_of(plan))), plan, period


@st.composite
def cloud_scenarios(draw: st.DrawFn) -> tuple[list[dict[str, object]], RatingPlan, Period]:
    period = draw(periods())
    return draw(cloud_rows(period)), draw(plans(period, cloud=True)), period


# None: one chunk (input order kept); small sizes split the rows into many
# chunks of whole accounts, rated on several threads.
CHUNKS = st.sampled_from([None, None, 1, 2, 5])


@SETTINGS
@given(cdr_scenarios(), CHUNKS)
def test_cdr_rating_matches_reference(
    scenario: tuple[list[dict[str, object]], RatingPlan, Period], chunk_rows: int | None
) -> None:
    rows, plan, period = scenario
    compare(rows, plan, period, chunk_rows=chunk_rows)


@SETTINGS
@given(cloud_scenarios(), CHUNKS)
def test_cloud_rating_matches_reference(
    scenario: tuple[list[dict[str, object]], RatingPlan, Period], chunk_rows: int | None
) -> None:
    rows, plan, period = scenario
    compare(rows, plan, period, chunk_rows=chunk_rows)


@SETTINGS
@given(st.data())
def test_mixed_usage_matches_reference(data: st.DataObject) -> None:
    """CDRs and cloud rows in one table, rated with one plan holding both decks."""
    period = data.draw(periods())
    cloud_plan = data.draw(plans(period, cloud=True))
    voice_plan = data.draw(plans(period, cloud=False))
    assert cloud_plan.price_book is not None
    assert voice_plan.price_book is not None
    voice_versions = voice_plan.price_book.versions
    versions = tuple(
        replace(
            v,
            tariffs=tuple(
                replace(t, id=t.id + 100_000 * (i + 1))
                for t in voice_versions[i % len(voice_versions)].tariffs
            ),
        )
        for i, v in enumerate(cloud_plan.price_book.versions)
    )
    plan = replace(
        cloud_plan,
        price_book=replace(cloud_plan.price_book, versions=versions),
        timetable=voice_plan.timetable,
    )
    rows = data.draw(cdr_rows(period, prefixes_of(plan))) + data.draw(cloud_rows(period))
    compare(rows, plan, period, chunk_rows=data.draw(CHUNKS))
