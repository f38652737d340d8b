"""Numbering rules: presets, options, and the normalisation properties."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.numbering import (
    DE,
    DEFAULT,
    FR,
    GB,
    MAX_DIGITS,
    NANP,
    RU,
    InvalidNumber,
    NumberingRules,
    normalise,
    normalise_array,
    normalise_or_none,
    preset,
    rules_from_options,
)

COUNTRIES = [NANP, GB, DE, FR, RU]


@pytest.mark.parametrize(
    ("raw", "rules", "expected"),
    [
        ("011 44 20 7946 0000", NANP, "442079460000"),  # NANP international access 011
        ("1 (212) 555-0100", NANP, "12125550100"),  # NANP trunk 1
        ("+1.212.555.0100", NANP, "12125550100"),
        ("(212) 555-0100", NANP, "12125550100"),  # NANP bare 10 digits: national
        ("2125550100", DEFAULT, "2125550100"),  # no country: as dialled
        ("212555010", NANP, "212555010"),  # not 10 digits: read as E.164
        ("00 44 20 7946 0000", NANP, None),  # 00 is not international in NANP: 0044... is
        ("020 7946 0000", GB, "442079460000"),  # GB trunk 0
        ("0049 30 1234567", GB, "49301234567"),
        ("030 1234567", DE, "49301234567"),
        ("06 12 34 56 78", FR, "33612345678"),
        ("8 916 123-45-67", RU, "79161234567"),  # Russian trunk 8
        ("810 81 3 1234 5678", RU, "81312345678"),  # Russian international 8~10
        ("204455", RU, None),  # a PBX extension, not a number
        ("112", DE, None),  # short code: shorter than any international number
        ("1234567890123456", DEFAULT, None),  # 16 digits: beyond E.164's 15
        ("+1234567890123456", FR, None),
        ("+123456789012345", FR, "123456789012345"),  # exactly 15
        ("+0612345678", FR, None),  # no country code starts with 0
        ("0612345678", DEFAULT, "0612345678"),  # no country: kept as dialled (as before)
        ("sip:100@pbx", NANP, None),
        ("0800ABC", GB, None),
        ("", DEFAULT, None),
        ("+", DEFAULT, None),
        ("00", DEFAULT, None),
        ("\u0661\u0662\u0663", DEFAULT, None),  # non-ASCII digits are not digits
        ("33 6\u00a012", DEFAULT, None),  # non-ASCII space is not a separator
    ],
)
def test_normalise(raw: str, rules: NumberingRules, expected: str | None) -> None:
    assert normalise_or_none(raw, rules) == expected
    got = normalise_array(pa.array([raw], pa.string()), rules).to_pylist()
    assert got == [expected]
    if expected is None:
        with pytest.raises(InvalidNumber):
            normalise(raw, rules)


def test_presets_by_name() -> None:
    assert preset("us") is NANP
    assert preset("NANP") is NANP
    assert preset("uk") is GB
    assert preset("default") == DEFAULT == NumberingRules()
    with pytest.raises(ValueError, match="unknown numbering 'XX'"):
        preset("XX")


def test_rules_from_options() -> None:
    assert rules_from_options() is None
    assert (
        rules_from_options("", country_code=" ", international_prefix="", trunk_prefix="") is None
    )
    assert rules_from_options(country_code="33") == NumberingRules("33")
    assert rules_from_options("US") is NANP
    custom = rules_from_options(country_code="1", international_prefix="011", trunk_prefix="1")
    assert custom == NumberingRules("1", ("011",), "1")
    it = rules_from_options("DE", country_code="39", trunk_prefix="none")
    assert it == NumberingRules("39", ("00",), "", min_digits=7)
    assert rules_from_options(international_prefix="00, 011") == NumberingRules(
        international_prefixes=("00", "011")
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"country_code": "0"}, "country code must be 1-3 digits"),
        ({"country_code": "1234"}, "country code must be 1-3 digits"),
        ({"international_prefix": "0x"}, "international prefix must be 1-4 digits"),
        ({"international_prefix": ","}, "at least one international prefix"),
        ({"country_code": "+"}, "country code must be 1-3 digits"),
        ({"trunk_prefix": "a"}, "trunk prefix must be up to 4 digits"),
        ({"trunk_prefix": "00"}, "is also an international prefix"),
        ({"numbering": "Mars"}, "unknown numbering"),
    ],
)
def test_invalid_settings_are_one_line_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        rules_from_options(**kwargs)
    assert "\n" not in str(info.value)


# E.164 numbers of a country: its code + a national significant number that
# does not start with 0 or 1 (true of NANP, GB, DE and FR national numbers,
# so trunk + number can never read as an international prefix).
@st.composite
def national(draw: st.DrawFn, rules: NumberingRules) -> tuple[str, str]:
    cc = rules.country_code or ""
    size = draw(st.integers(max(rules.min_digits - len(cc), 2), MAX_DIGITS - len(cc)))
    first = draw(st.sampled_from("23456789"))
    rest = draw(st.text(alphabet="0123456789", min_size=size - 1, max_size=size - 1))
    return cc, first + rest


def _formatted(draw: st.DrawFn, digits: str) -> str:
    seps = draw(
        st.lists(
            st.sampled_from(["", "", " ", "-", ".", "(", ")", "/"]),
            min_size=len(digits),
            max_size=len(digits),
        )
    )
    return "".join(d + s for d, s in zip(digits, seps, strict=True))


@given(st.data(), st.sampled_from(COUNTRIES))
def test_all_ways_of_writing_a_number_agree(data: st.DataObject, rules: NumberingRules) -> None:
    cc, nsn = data.draw(national(rules))
    e164 = cc + nsn
    ways = [e164, "+" + e164, rules.trunk_prefix + nsn]
    if rules.national_digits == len(nsn):
        ways.append(nsn)  # NANP: 10 digits dialled without the trunk 1
    ways += [p + e164 for p in rules.international_prefixes]
    ways.append(_formatted(data.draw, "+" + e164))
    got = [normalise(w, rules) for w in ways]
    assert got == [e164] * len(ways)
    assert normalise_array(pa.array(ways), rules).to_pylist() == got


@given(
    st.text(alphabet="123456789", min_size=1, max_size=1).flatmap(
        lambda first: st.text(alphabet="0123456789", max_size=MAX_DIGITS - 1).map(
            lambda rest: first + rest
        )
    ),
    st.sampled_from([DEFAULT, *COUNTRIES]),
)
def test_normalising_a_normalised_number_is_the_identity(e164: str, rules: NumberingRules) -> None:
    once = normalise_or_none(e164, rules)
    # Bare digits that begin with the trunk prefix are national where the
    # trunk prefix is not the country code (RU: 8...): only +digits are
    # unambiguous there. In NANP, GB, DE, FR no E.164 number is ambiguous.
    local = (rules.trunk_prefix, *rules.international_prefixes)
    ambiguous = rules.trunk_prefix != rules.country_code and e164.startswith(local)
    # NANP: a bare 10-digit number is national, so a foreign E.164 number of
    # 10 digits needs its + (or 011) there.
    ambiguous |= len(e164) == rules.national_digits
    if len(e164) < rules.min_digits:
        assert once is None
        assert normalise_or_none("+" + e164, rules) is None
    elif ambiguous:
        assert rules in (RU, NANP)
        assert normalise("+" + e164, rules) == e164
    else:
        assert once == e164
        assert normalise(once, rules) == once
        assert normalise("+" + e164, rules) == e164


@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet="+0123456789 -()./*#s\t", max_size=18)),
        max_size=30,
    ),
    st.sampled_from(
        [
            DEFAULT,
            *COUNTRIES,
            NumberingRules("49"),
            NumberingRules(None, ("00", "011"), ""),
            NumberingRules("1", ("011",), "", national_digits=10),
        ]
    ),
)
def test_vectorised_agrees_with_scalar(numbers: list[str | None], rules: NumberingRules) -> None:
    got = normalise_array(pa.array(numbers, pa.string()), rules).to_pylist()
    assert got == [normalise_or_none(n, rules) for n in numbers]
