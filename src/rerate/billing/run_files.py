"""Reading a billing run's files, checked against the manifest written with them.

A run directory ends with `manifest.json`: every other file's size and SHA-256
(rating/output.py writes it last, before the atomic rename), and the run's row
records the manifest's own SHA-256 (`BillingRun.manifest_sha256`), so the
database vouches for the files. Readers take the file list from the manifest,
not from the directory, so a deleted part is noticed rather than silently
skipped.

Every read first checks, cheaply, that each listed file is there with its
size, and turns any decoding error into `RunUnreadable` naming the file
relative to the data directory (never a server path) and saying what to do:
recalculate the period, which rebuilds the run from usage. `problems(deep=True)`
(`rerate check`) also re-hashes every file and recomputes the fingerprint.
Runs written before manifests existed have none and are read by listing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rerate.kit.errors import Conflict
from rerate.models import BillingRun
from rerate.rating.output import MANIFEST, file_entry

T = TypeVar("T")


class RunUnreadable(Conflict):
    """A billing run's files are missing or damaged; recalculating rebuilds it."""


def relative_name(run_path: Path, name: str = "") -> str:
    """`runs/customer=<id>/period=<YYYY-MM>/<uuid>/<name>`: the file relative to
    the data directory, as an operator finds it, without the server's path."""
    parts = run_path.parts
    base = Path(*parts[-4:]) if len(parts) >= 4 and parts[-4] == "runs" else Path(run_path.name)
    return str(base / name) if name else str(base)


def describe(run: BillingRun, problem: str) -> str:
    return (
        f"billing run {run.id} (customer {run.customer_id}, {run.period}, version "
        f"{run.version}) is unreadable: {problem}; recalculate the period to rebuild it "
        "from usage"
    )


def load_manifest(run_path: Path) -> dict[str, dict[str, Any]] | None:
    """The manifest's files, or None when the run has none (written before manifests)."""
    path = run_path / MANIFEST
    if not path.exists():
        return None
    files: dict[str, dict[str, Any]] = json.loads(path.read_bytes())["files"]
    return files


def _sha256(path: Path) -> str:
    return str(file_entry(path)["sha256"])


def problems(run: BillingRun, *, deep: bool = False) -> list[str]:
    """What is wrong with the run's files (empty: readable).

    Cheap by default: the directory, the manifest, and each listed file's
    presence and size. `deep` also checks the manifest against the database,
    every file's SHA-256, and the content fingerprint.
    """
    root = Path(run.path)
    if not root.is_dir():
        return [f"{relative_name(root)} is missing"]
    try:
        files = load_manifest(root)
    except (OSError, ValueError, KeyError):
        return [f"{relative_name(root, MANIFEST)} is damaged"]
    found: list[str] = []
    if files is None:
        if run.manifest_sha256:
            return [f"{relative_name(root, MANIFEST)} is missing"]
    else:
        if deep and run.manifest_sha256 and _sha256(root / MANIFEST) != run.manifest_sha256:
            found.append(
                f"{relative_name(root, MANIFEST)} does not match the checksum in the database"
            )
        for name, entry in files.items():
            path = root / name
            if not path.is_file():
                found.append(f"{relative_name(root, name)} is missing")
            elif path.stat().st_size != entry["bytes"]:
                found.append(
                    f"{relative_name(root, name)} is damaged "
                    f"({path.stat().st_size} bytes, {entry['bytes']} expected)"
                )
            elif deep and _sha256(path) != entry["sha256"]:
                found.append(f"{relative_name(root, name)} is damaged (checksum mismatch)")
    if deep and not found:
        from rerate.billing.runs import fingerprint_tables

        try:
            digest = fingerprint_tables(read_daily(run), read_period_lines(run))
        except RunUnreadable as exc:
            return [exc.extra.get("problem", exc.detail)]
        if digest != run.fingerprint:
            found.append(f"{relative_name(root)} does not match its fingerprint")
    return found


def check_readable(run: BillingRun) -> None:
    """Raise `RunUnreadable` for the first problem a cheap check finds."""
    found = problems(run)
    if found:
        raise RunUnreadable(describe(run, found[0]), problem=found[0], run_id=run.id)


@contextmanager
def _reading(run: BillingRun, name: str) -> Iterator[None]:
    # Arrow's messages carry the absolute path; say which file, not where it lives.
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        problem = f"{relative_name(Path(run.path), name)} is damaged ({type(exc).__name__})"
        raise RunUnreadable(describe(run, problem), problem=problem, run_id=run.id) from exc


def parts(run: BillingRun, folder: str) -> list[str]:
    """The part files of `folder` ("daily" or "rated"), relative to the run, in order."""
    root = Path(run.path)
    files = load_manifest(root)
    if files is not None:
        return sorted(n for n in files if n.startswith(f"{folder}/"))
    if folder == "daily" and (root / "daily.parquet").exists():
        return ["daily.parquet"]  # runs from before daily rows were written as parts
    return [f"{folder}/{p.name}" for p in sorted((root / folder).glob("part-*.parquet"))]


def _read_one(path: Path) -> pa.Table:
    """One Parquet file, whole. `ParquetFile` skips the dataset set-up of
    `pq.read_table` (about a millisecond a call: an invoice refresh reads two
    small files per job), and a small file is decoded on this thread."""
    with pq.ParquetFile(path) as file:
        return file.read(use_threads=file.metadata.num_rows > 100_000)


def read_parts(run: BillingRun, folder: str, read: Callable[[Path], pa.Table]) -> pa.Table:
    check_readable(run)
    names = parts(run, folder)
    if not names:
        problem = f"{relative_name(Path(run.path), folder)} has no part files"
        raise RunUnreadable(describe(run, problem), problem=problem, run_id=run.id)
    tables = []
    for name in names:
        with _reading(run, name):
            tables.append(read(Path(run.path) / name))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def read_daily(run: BillingRun) -> pa.Table:
    return read_parts(run, "daily", _read_one)


def read_rated(run: BillingRun, columns: list[str] | None = None) -> pa.Table:
    def read(path: Path) -> pa.Table:
        return pq.read_table(path, columns=columns)

    return read_parts(run, "rated", read)


def read_period_lines(run: BillingRun) -> pa.Table:
    check_readable(run)
    with _reading(run, "period_lines.parquet"):
        return _read_one(Path(run.path) / "period_lines.parquet")


def scan_rated(run: BillingRun, query: Callable[[ds.Dataset], T]) -> T:
    """Run `query` over the rated parts as one dataset (filters push down)."""
    check_readable(run)
    names = parts(run, "rated")
    with _reading(run, "rated"):
        return query(ds.dataset([str(Path(run.path) / n) for n in names], format="parquet"))
