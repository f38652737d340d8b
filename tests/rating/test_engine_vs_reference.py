"""Property tests: the vectorised engine agrees exactly with the reference rater."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rerate.kit.periods import Period
from rerate.rating.plan import RatingPlan

from .helpers import compare
from .strategies import cdr_rows, cloud_rows, periods, plans

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def cdr_scenarios(draw: st.DrawFn) -> tuple[list[dict[str, object]], RatingPlan, Period]:
    period = draw(periods())
    return draw(cdr_rows(period)), draw(plans(period, cloud=False)), period


@st.composite
def cloud_scenarios(draw: st.DrawFn) -> tuple[list[dict[str, object]], RatingPlan, Period]:
    period = draw(periods())
    return draw(cloud_rows(period)), draw(plans(period, cloud=True)), period


@SETTINGS
@given(cdr_scenarios())
def test_cdr_rating_matches_reference(scenario: tuple[list[dict[str, object]], RatingPlan, Period]) -> None:
    rows, plan, period = scenario
    compare(rows, plan, period)


@SETTINGS
@given(cloud_scenarios())
def test_cloud_rating_matches_reference(scenario: tuple[list[dict[str, object]], RatingPlan, Period]) -> None:
    rows, plan, period = scenario
    compare(rows, plan, period)


@SETTINGS
@given(st.data())
def test_mixed_usage_matches_reference(data: st.DataObject) -> None:
    period = data.draw(periods())
    cloud_plan = data.draw(plans(period, cloud=True))
    voice_plan = data.draw(plans(period, cloud=False))
    # One plan carrying both decks: cloud prices and tariffs in the same versions.
    assert cloud_plan.price_book is not None and voice_plan.price_book is not None
    merged = []
    for v in cloud_plan.price_book.versions:
        merged.append(v)
    plan = RatingPlan(
        contract=cloud_plan.contract,
        price_book=cloud_plan.price_book,
        timetable=voice_plan.timetable,
        profiles=cloud_plan.profiles,
        ownership=cloud_plan.ownership,
        overlap_selection=cloud_plan.overlap_selection,
    )
    rows = data.draw(cdr_rows(period)) + data.draw(cloud_rows(period))
    compare(rows, plan, period)
