"""A neutral EN 16931 invoice, built from a rerate invoice and its two parties.

The UBL and CII writers only serialise this object; every decision about what
goes into an e-invoice (signs, VAT category, rounding, what is refused) is made
here, once, so both syntaxes carry the same figures. Field names end with the
EN 16931 business term they hold (BT-n, BG-n).

Refusals are `EInvoiceRefused` (HTTP 422) naming the missing or unusable field:
an invalid e-invoice is never produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum

from rerate.kit.errors import Invalid

SPECIFICATION_ID = "urn:cen.eu:en16931:2017"  # BT-24, the EN 16931 core (Factur-X EN16931)
ZERO = Decimal(0)


class EInvoiceRefused(Invalid):
    """The invoice cannot be expressed as a valid EN 16931 e-invoice (422)."""


class TypeCode(IntEnum):
    """BT-3, UNTDID 1001."""

    INVOICE = 380
    CREDIT_NOTE = 381


class VatCategory(StrEnum):
    """BT-118/BT-151, UNTDID 5305: the two rerate can state from what it stores."""

    STANDARD = "S"  # a positive rate
    ZERO_RATED = "Z"  # rate 0; needs no exemption reason (E would: BR-E-10)


# UN/ECE Recommendation 20 codes for the units rerate prints. Anything else is
# "C62" (one): correct for counts, and never a wrong physical unit.
UNIT_CODES: dict[str, str] = {
    "s": "SEC",
    "sec": "SEC",
    "second": "SEC",
    "seconds": "SEC",
    "min": "MIN",
    "minute": "MIN",
    "minutes": "MIN",
    "h": "HUR",
    "hr": "HUR",
    "hour": "HUR",
    "hours": "HUR",
    "gb": "E34",
    "gigabyte": "E34",
    "day": "DAY",
    "days": "DAY",
    "month": "MON",
    "months": "MON",
}
UNIT_ONE = "C62"


def unit_code(unit: str) -> str:
    return UNIT_CODES.get(unit.strip().lower(), UNIT_ONE)


# Country names accepted on an address's last line, besides ISO 3166-1 alpha-2
# codes themselves: the EU/EEA, the UK, Switzerland and North America, in
# English and in their own language. Others must be written as the code.
COUNTRY_NAMES: dict[str, str] = {
    "austria": "AT", "österreich": "AT", "belgium": "BE", "belgique": "BE", "belgië": "BE",
    "bulgaria": "BG", "croatia": "HR", "hrvatska": "HR", "cyprus": "CY", "czechia": "CZ",
    "czech republic": "CZ", "česko": "CZ", "denmark": "DK", "danmark": "DK", "estonia": "EE",
    "eesti": "EE", "finland": "FI", "suomi": "FI", "france": "FR", "germany": "DE",
    "deutschland": "DE", "greece": "GR", "hungary": "HU", "magyarország": "HU",
    "ireland": "IE", "italy": "IT", "italia": "IT", "latvia": "LV", "latvija": "LV",
    "lithuania": "LT", "lietuva": "LT", "luxembourg": "LU", "malta": "MT",
    "netherlands": "NL", "the netherlands": "NL", "nederland": "NL", "poland": "PL",
    "polska": "PL", "portugal": "PT", "romania": "RO", "românia": "RO", "slovakia": "SK",
    "slovensko": "SK", "slovenia": "SI", "slovenija": "SI", "spain": "ES", "españa": "ES",
    "sweden": "SE", "sverige": "SE", "norway": "NO", "norge": "NO", "iceland": "IS",
    "ísland": "IS", "liechtenstein": "LI", "switzerland": "CH", "schweiz": "CH",
    "suisse": "CH", "svizzera": "CH", "united kingdom": "GB", "uk": "GB",
    "great britain": "GB", "united states": "US", "united states of america": "US",
    "usa": "US", "canada": "CA",
}  # fmt: skip
_ALPHA2 = re.compile(r"[A-Z]{2}")
# A VAT identifier starts with its country's code (BR-CO-9); Greece uses EL.
_VAT_ID = re.compile(r"[A-Z]{2}[0-9A-Z+*.]{2,15}")
_POSTCODE_CITY = re.compile(r"(?P<postcode>[A-Z]{0,3}-?\d[\dA-Z -]{1,9}?)\s+(?P<city>\D.*)")


@dataclass(frozen=True, slots=True)
class Address:
    """BG-5 / BG-8."""

    lines: tuple[str, ...]  # BT-35, BT-36, BT-162 (street lines, at most three)
    city: str  # BT-37
    postcode: str  # BT-38
    country: str  # BT-40 / BT-55, ISO 3166-1 alpha-2


@dataclass(frozen=True, slots=True)
class Party:
    """BG-4 seller / BG-7 buyer."""

    name: str  # BT-27 / BT-44
    address: Address
    vat_id: str  # BT-31 / BT-48 ("" when none)
    node_id: int


@dataclass(frozen=True, slots=True)
class Line:
    """BG-25. `price` is never negative (BR-27): a credit line carries a negative
    quantity instead, so that quantity x price = net amount keeps its sign."""

    id: str  # BT-126
    name: str  # BT-153
    quantity: Decimal  # BT-129
    unit_code: str  # BT-130
    price: Decimal  # BT-146
    net: Decimal  # BT-131
    vat_category: VatCategory  # BT-151
    vat_rate: Decimal  # BT-152, percent


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """BG-23."""

    category: VatCategory  # BT-118
    rate: Decimal  # BT-119, percent
    taxable: Decimal  # BT-116
    tax: Decimal  # BT-117


@dataclass(frozen=True, slots=True)
class Totals:
    """BG-22. rerate has no document-level allowances or charges (BT-107/108 are
    0 and left out), and the e-invoice is the invoice as issued: payments
    recorded later are not deducted (BT-113 = 0, BT-115 = BT-112)."""

    line_net: Decimal  # BT-106
    without_vat: Decimal  # BT-109
    vat: Decimal  # BT-110
    with_vat: Decimal  # BT-112
    payable: Decimal  # BT-115


@dataclass(frozen=True, slots=True)
class Preceding:
    """BG-3: the invoice this one replaces, or a credit note's original."""

    number: str  # BT-25
    issue_date: date | None  # BT-26


@dataclass(frozen=True, slots=True)
class Document:
    number: str  # BT-1
    issue_date: date  # BT-2
    type_code: TypeCode  # BT-3
    currency: str  # BT-5
    due_date: date | None  # BT-9
    payment_terms: str  # BT-20
    buyer_reference: str  # BT-10
    period_start: date  # BT-73
    period_end: date  # BT-74 (inclusive, as EN 16931 counts it)
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    vat: tuple[VatBreakdown, ...]
    totals: Totals
    preceding: tuple[Preceding, ...] = ()
    notes: tuple[str, ...] = ()  # BT-22
    decimals: int = 2  # the currency's minor unit, at most 2 (BR-DEC-*)

    def amount(self, value: Decimal) -> str:
        """An amount as EN 16931 writes it: exactly the currency's minor unit."""
        return format(value.quantize(Decimal(1).scaleb(-self.decimals)), "f")


def decimal_text(value: Decimal) -> str:
    """A quantity, price or rate: as many places as it carries, no exponent."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def parse_address(text: str, *, role: str, vat_id: str = "") -> Address:
    """Split rerate's free-form multi-line address into EN 16931 fields.

    The last line names the country (an ISO 3166-1 alpha-2 code or a name in
    `COUNTRY_NAMES`); failing that, a VAT identifier's prefix gives it. The
    line before it is "postcode city" when it starts with a postcode; the
    lines above are street lines (a fourth and later are joined into the third).
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    country = ""
    if lines:
        last = lines[-1].strip().rstrip(".")
        code = COUNTRY_NAMES.get(last.lower()) or (
            last.upper() if _ALPHA2.fullmatch(last.upper()) else ""
        )
        if code:
            country = code
            lines.pop()
    if not country and _VAT_ID.fullmatch(vat_id):
        country = "GR" if vat_id[:2] == "EL" else vat_id[:2]
    if not country:
        raise EInvoiceRefused(
            f"{role} address has no country (BT-40/BT-55): end the address with a line "
            "holding the ISO 3166 country code, e.g. FR"
        )
    city = postcode = ""
    if lines:
        match = _POSTCODE_CITY.fullmatch(lines[-1])
        if match:
            postcode, city = match["postcode"].strip(), match["city"].strip()
            lines.pop()
        elif len(lines) > 1:
            city = lines.pop()
    street = lines[:2] + ([", ".join(lines[2:])] if len(lines) > 2 else [])
    return Address(lines=tuple(street), city=city, postcode=postcode, country=country)


def vat_identifier(tax_id: str) -> str:
    """The tax id as a VAT identifier (BR-CO-9: country prefix), or "" if it is not one."""
    compact = re.sub(r"[\s.-]", "", tax_id).upper()
    return compact if _VAT_ID.fullmatch(compact) else ""
