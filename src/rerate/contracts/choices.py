"""What a contract form offers: only what the caller may see, of the right
kind (customers they manage, sellers above them, cloud books, VoIP decks,
timetables). The service checks every reference again on submit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit.money import RoundingMode
from rerate.models.enums import NodeKind, PriceBookKind
from rerate.pricebooks.service import list_books
from rerate.tenancy.service import list_nodes
from rerate.timetables.service import list_timetables

MAX_CHOICES = 1000


def contract_choices(session: Session, principal: Principal) -> dict[str, Any]:
    sellers = [n for n in list_nodes(session, principal) if n.kind != NodeKind.CUSTOMER.value]
    timetables, _ = list_timetables(session, principal, limit=MAX_CHOICES)
    return {
        "customers": list_nodes(
            session, principal, kind=NodeKind.CUSTOMER, permission=Permission.MANAGE_CATALOG
        ),
        "sellers": sellers,
        "cloud_books": list_books(
            session, principal, kind=PriceBookKind.CLOUD, limit=MAX_CHOICES
        ).items,
        "voip_books": list_books(
            session, principal, kind=PriceBookKind.VOIP, limit=MAX_CHOICES
        ).items,
        "timetables": timetables,
        "rounding_modes": [m.value for m in RoundingMode],
    }
