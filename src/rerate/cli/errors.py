"""One line and exit code 2 for a user's mistake, whatever command made it.

Commands print their own refusals where they know better words; this is the
net under all of them: a `RerateError` (not found, refused, invalid, not
eligible, busy) that escapes a command becomes `error: <detail>` on stderr
and exit code 2, never a Python traceback. A real bug (any other exception)
still shows its traceback: hiding it would hide the defect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

if TYPE_CHECKING:
    # Typer vendors click; its Context is what TyperGroup.invoke is typed with.
    from typer._click.core import Context

err = Console(stderr=True)


class OneLineErrors(TyperGroup):
    """The root command group: sub-apps run inside its `invoke`, so one net covers all."""

    def invoke(self, ctx: Context) -> Any:
        from rerate.kit.errors import RerateError

        try:
            return super().invoke(ctx)
        except RerateError as exc:
            err.print(f"error: {exc.detail}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
