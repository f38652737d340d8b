"""Public Azure: cost exports read from the folder Azure delivers them to.

Azure Cost Management writes scheduled exports into a storage container as

    <container>/<directory>/<export name>/<YYYYMMDD-YYYYMMDD>/<run id>/part_0_0001.csv
    <container>/<directory>/<export name>/<YYYYMMDD-YYYYMMDD>/<export name>_<run id>.csv

(partitioned exports write several `part_*.csv` per run; older ones a single
CSV). The region's `folder` setting is a local path where that container is
mounted or synced (blobfuse, `azcopy sync`, a file share). Every `*.csv` under
it is a candidate; with `export_name`, only files under a directory of that
name. A file under a `<YYYYMMDD-YYYYMMDD>` directory whose dates do not
overlap the collected range is skipped; any other file is read whatever the
range (a single exported CSV has no dates in its path).

Only new files are imported: the service remembers the sha256 of every file
imported for the region, and a file with a known checksum is skipped. A
month-to-date export delivered again (a new run id, more days) is a new file:
its rows already imported are `unchanged` by record id, changed ones are
corrections. Files are read oldest first (modification time, then path), so a
later run's values win.

Rows are parsed by the `azure` importer; `tag_key` (e.g. `tenant`) maps each
row to the account `<subscription id>/<tag value>`: the resource group's tag,
which reaches every row with Azure's tag inheritance (docs/formats.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from rerate.collection.collectors.base import Batch, CollectContext, CollectionError, remap_skus
from rerate.usage.importers import get_importer
from rerate.usage.importers.base import ImportOptions

_RANGE = re.compile(r"^(\d{8})-(\d{8})$")


def _range_of(relative: Path) -> tuple[date, date] | None:
    """The `[first, last]` days of the export range directory in `relative`, if any."""
    for part in relative.parts[:-1]:
        m = _RANGE.match(part)
        if m:
            try:
                first = datetime.strptime(m.group(1), "%Y%m%d").date()  # noqa: DTZ007
                last = datetime.strptime(m.group(2), "%Y%m%d").date()  # noqa: DTZ007
            except ValueError:
                return None
            return first, last
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def candidates(folder: Path, start: date, end: date, export_name: str | None) -> list[Path]:
    found: list[tuple[float, str, Path]] = []
    for path in folder.rglob("*"):
        if not path.is_file() or path.suffix.lower() != ".csv":
            continue
        relative = path.relative_to(folder)
        if export_name and export_name not in relative.parts[:-1]:
            continue
        span = _range_of(relative)
        if span is not None and (span[1] < start or span[0] >= end):
            continue
        found.append((path.stat().st_mtime, str(relative), path))
    return [p for _, _, p in sorted(found)]


def collect(ctx: CollectContext, start: date, end: date) -> Iterator[Batch]:
    folder_setting = ctx.settings.get("folder")
    if not folder_setting:
        raise CollectionError("the region's settings lack 'folder'")
    folder = Path(str(folder_setting))
    if not folder.is_dir():
        raise CollectionError(f"export folder {folder} does not exist or is not a directory")
    importer = get_importer("azure")
    tag_key = ctx.settings.get("tag_key") or None
    export_name = ctx.settings.get("export_name") or None
    sku_map = dict(ctx.settings.get("sku_map") or {})
    files = candidates(folder, start, end, export_name)
    for number, path in enumerate(files, start=1):
        digest = _sha256(path)
        relative = str(path.relative_to(folder))
        if digest in ctx.known_files:
            ctx.progress(number / max(len(files), 1), f"{relative}: already imported")
            continue
        options = ImportOptions(
            skip_bad_rows=True,
            tag_key=str(tag_key) if tag_key else None,
            file_label=relative,
        )
        parsed = remap_skus(importer.parse(path, options), sku_map)
        yield Batch(
            parsed=parsed,
            source=importer.source.value,
            sha256=digest,
            file=(relative, digest),
            note=f"{relative}: {parsed.rows_read} rows",
        )
