"""Server paths stay out of what callers see (kit/redact.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.redact import _ABSOLUTE, _FILE_URL, scrub, without_paths


def _regex_only(text: str) -> str:
    """The two passes without the shortcut for texts holding no '/'."""
    return _ABSOLUTE.sub(lambda m: m.group(1) or "…", _FILE_URL.sub("", text))


@given(st.text())
def test_the_shortcut_agrees_with_the_full_passes(text: str):
    assert without_paths(text) == _regex_only(text)


@given(st.text(alphabet=st.characters(blacklist_characters="/")))
def test_a_text_without_a_slash_is_returned_as_is(text: str):
    assert without_paths(text) is text


def test_paths_become_their_last_segment_at_any_depth():
    stored = {
        "error": "ArrowInvalid: could not open /srv/rerate/data/runs/7/part-0.parquet",
        "lines": [{"note": "see file:///tmp/upload-1234/usage.csv"}, 12, None],
        "plain": "2026-10",
    }
    assert scrub(stored) == {
        "error": "ArrowInvalid: could not open part-0.parquet",
        "lines": [{"note": "see usage.csv"}, 12, None],
        "plain": "2026-10",
    }
