"""The Spark backend gives the embedded engine's run, file for file.

Every golden case and a sample of the property tests (engine against the
reference rater) are rated a second time on Spark (one local[2] session for
the test run); the run written by each backend is compared: the rated rows,
daily rows, period lines and summary, and every file's bytes (manifest.json
holds their SHA-256). Since the embedded engine agrees with the reference,
so does Spark. Skipped without pyspark, a failure in CI
(RERATE_TEST_REQUIRE_SPARK=1).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from rerate.kit.periods import Period
from rerate.rating import engine
from rerate.rating.output import RunWriter, summary_dict
from rerate.rating.plan import RatingPlan

from . import helpers, test_engine_vs_reference, test_golden
from .helpers import usage_table

# py4j (Spark's bridge to the JVM) leaves client sockets to the garbage
# collector; their ResourceWarnings are py4j's, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def run_files(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def assert_same_run(embedded: Path, spark: Path) -> None:
    a, b = run_files(embedded), run_files(spark)
    assert sorted(a) == sorted(b)
    for name in a:
        if name.endswith(".parquet"):
            # A readable difference first, then the bytes.
            assert pq.read_table(spark / name).equals(pq.read_table(embedded / name)), name
    assert a == b


class Parity:
    """Rates a scenario with both backends into run directories; asserts the
    results and the files are the same."""

    def __init__(self, backend: Any, root: Path) -> None:
        self.backend = backend
        self.root = root
        self.checked = 0

    def __call__(self, table: pa.Table, plan: RatingPlan, period: Period) -> None:
        base = self.root / uuid.uuid4().hex
        with RunWriter(base / "embedded") as writer:
            want = engine.rate(table, plan, period, part_sink=writer.write_part)
            writer.finish(want)
        with RunWriter(base / "spark") as writer:
            got = self.backend.rate_table(table, plan, period, writer)
            writer.finish(got)
        assert got.daily.equals(want.daily)
        assert got.period_lines.equals(want.period_lines)
        assert got.lines == want.lines
        assert got.summary == want.summary
        assert summary_dict(got.summary) == summary_dict(want.summary)
        assert_same_run(base / "embedded", base / "spark")
        self.checked += 1


@pytest.fixture
def parity(spark_backend: Any, tmp_path: Path) -> Iterator[Parity]:
    checker = Parity(spark_backend, tmp_path)
    helpers.PARITY.append(checker)
    try:
        yield checker
    finally:
        helpers.PARITY.remove(checker)


def _golden_cases() -> list[Any]:
    cases: list[Any] = []
    for name, fn in sorted(vars(test_golden).items()):
        if not name.startswith("test_") or not callable(fn):
            continue
        marks = getattr(fn, "pytestmark", [])
        params = [m for m in marks if m.name == "parametrize"]
        if not inspect.signature(fn).parameters:
            cases.append(pytest.param(fn, (), id=name))
        elif len(params) == 1:
            names = [n.strip() for n in str(params[0].args[0]).split(",")]
            for i, values in enumerate(params[0].args[1]):
                args = values if len(names) > 1 else (values,)
                cases.append(pytest.param(fn, tuple(args), id=f"{name}[{i}]"))
    return cases


@pytest.mark.parametrize(("case", "args"), _golden_cases())
def test_golden_case_on_spark(
    parity: Parity, case: Callable[..., None], args: tuple[Any, ...]
) -> None:
    case(*args)
    assert parity.checked >= 1  # the case went through compare, so through Spark


# Each example is a Spark job: a sample, not the embedded suite's 100 (which
# keeps covering the engine itself).
SPARK_SETTINGS = settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@SPARK_SETTINGS
@given(test_engine_vs_reference.cdr_scenarios(), test_engine_vs_reference.CHUNKS)
def test_cdr_property_on_spark(parity: Parity, scenario: Any, chunk_rows: int | None) -> None:
    rows, plan, period = scenario
    helpers.compare(rows, plan, period, chunk_rows=chunk_rows)


@SPARK_SETTINGS
@given(test_engine_vs_reference.cloud_scenarios(), test_engine_vs_reference.CHUNKS)
def test_cloud_property_on_spark(parity: Parity, scenario: Any, chunk_rows: int | None) -> None:
    rows, plan, period = scenario
    helpers.compare(rows, plan, period, chunk_rows=chunk_rows)


def test_several_chunks_are_the_embedded_chunks(spark_backend: Any, tmp_path: Path) -> None:
    """With chunks of a few rows, Spark's groups are the embedded engine's
    chunks: the same part files, rows in the same order."""
    rows = [
        test_golden.cdr("4930123", 60 + i, f"2026-08-{1 + i % 28:02d}T10:00", account=1 + i % 2)
        for i in range(40)
    ]
    plan = test_golden.plan((test_golden.tariff(1, "49", "0.0100"),))
    table = usage_table(rows)
    with RunWriter(tmp_path / "embedded") as writer:
        writer.finish(
            engine.rate(table, plan, test_golden.AUG, chunk_rows=25, part_sink=writer.write_part)
        )
    small = type(spark_backend)(spark_backend.master, spark_backend.conf, chunk_rows=25)
    with RunWriter(tmp_path / "spark") as writer:
        writer.finish(small.rate_table(table, plan, test_golden.AUG, writer))
    assert len(list((tmp_path / "spark" / "rated").iterdir())) == 2
    assert_same_run(tmp_path / "embedded", tmp_path / "spark")
