"""`rerate timetables ... --file`: a null default band is refused, not stored as "None"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from rerate.cli.timetables import _version_file


@pytest.mark.parametrize("band", [None, "", "  "])
def test_null_default_band_in_version_file(tmp_path: Path, band: str | None) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"default_band": band, "rules": []}))
    with pytest.raises(typer.BadParameter, match="default_band: a band name is required"):
        _version_file(path, "2026-01-01T00:00:00Z", None)


def test_band_option_still_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"default_band": None}))
    assert _version_file(path, "2026-01-01T00:00:00Z", "offpeak").default_band == "offpeak"
