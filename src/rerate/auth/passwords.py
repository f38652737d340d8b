"""The password policy: long enough, not a common password, not the email.

No composition rules (they push people to `Password1!`); instead a minimum
length, and a refusal of the passwords attackers try first: a list of common
passwords and words shipped with the package (`common_passwords.txt`),
matched also after stripping digits and symbols from both ends and undoing
the usual letter-for-digit swaps (`P@ssw0rd2024!` is `password`), plus
repetitions, runs (`1234567890`, `abcdefghij`) and keyboard walks.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from rerate.kit.errors import Invalid

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; this only bounds the work per request

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_LEET_L = str.maketrans({"1": "l", "0": "o", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s"})
_SYMBOLS = str.maketrans({"@": "a", "$": "s"})
_ENDS = "0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_RUNS = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnmqwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbnazertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
    "!@#$%^&*()_+",
)


@cache
def common_passwords() -> frozenset[str]:
    text = files("rerate.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def _is_run(text: str) -> bool:
    """A stretch of one keyboard row or sequence, either way round."""
    return any(text in run or text[::-1] in run for run in _RUNS)


def _is_repetition(text: str) -> bool:
    """`aaaaaaaaaa`, `abababab`, `abcabcabc`, `12341234`..."""
    return any(
        len(text) % size == 0 and text[:size] * (len(text) // size) == text
        for size in range(1, len(text) // 2 + 1)
    )


def _weak_shape(text: str) -> bool:
    return _is_repetition(text) or _is_run(text)


def problem(password: str, *, email: str = "", min_length: int = MIN_LENGTH) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"a password has at least {min_length} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    lowered = password.lower()
    core = lowered.strip(_ENDS)
    start = lowered.index(core) if core else len(lowered)
    prefix, suffix = lowered[:start], lowered[start + len(core) :]
    if _weak_shape(lowered) or (
        # a short word padded with a run: ab1234567890, !!!!abc
        len(core) < 4 and all(not part or _weak_shape(part) for part in (prefix, suffix))
    ):
        return "a password must not be a repetition or a run of keys"
    symbol_core = lowered.translate(_SYMBOLS).strip(_ENDS)  # @dmin2024 is admin
    cores = {lowered, core, symbol_core}
    cores |= {c.translate(_LEET) for c in cores} | {c.translate(_LEET_L) for c in cores}
    email = email.strip().lower()
    local = email.split("@", 1)[0]
    if email and (cores & {email, local} or (len(local) >= 4 and local in lowered)):
        return "a password must not be (or contain) the email address"
    if cores & common_passwords():
        return "this is one of the most common passwords; choose a less guessable one"
    return None


def check_password(password: str, *, email: str = "", min_length: int = MIN_LENGTH) -> None:
    """Raise `Invalid` (422) with the reason when `password` is refused."""
    reason = problem(password, email=email, min_length=min_length)
    if reason is not None:
        raise Invalid(reason)
