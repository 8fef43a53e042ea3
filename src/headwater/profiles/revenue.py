"""Lifetime value (ARCHITECTURE §2): `Charge` events with `data.status` `succeeded` add
`data.amount`, `refunded` subtracts it (whatever its sign), other statuses count nothing.

Totals are kept per currency as exact fractions of the amounts (each read as a float first),
so the result is the correctly rounded sum (what `math.fsum` gives) in any order, without
holding the amounts.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

_SIGN = {"succeeded": 1, "refunded": -1}


class Revenue:
    def __init__(self) -> None:
        self._totals: dict[str | None, Fraction] = {}

    def observe(self, data: dict[str, Any]) -> bool:
        """Count one Charge's `data`; False when its amount is a number no float can hold."""
        amount, status = data.get("amount"), data.get("status")
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            return True
        sign = _SIGN.get(status if isinstance(status, str) else "")
        if sign is None:
            return True
        try:
            value = Fraction(abs(float(amount)))
        except OverflowError:  # a huge integer, stored before ingest bounded numbers
            return False
        currency = data.get("currency")
        currency = currency if isinstance(currency, str) else None
        self._totals[currency] = self._totals.get(currency, Fraction(0)) + sign * value
        return True

    def result(self) -> float | dict[str, float | None] | None:
        """0 without charges; the total with one currency; else currency → total
        ("unknown" for charges without one). A total beyond any float is null."""
        totals = {currency: _float(total) for currency, total in self._totals.items()}
        if not totals:
            return 0
        if len(totals) == 1:
            return next(iter(totals.values()))
        return {currency or "unknown": total for currency, total in sorted(
            totals.items(), key=lambda item: item[0] or "")}  # fmt: skip


def _float(total: Fraction) -> float | None:
    try:
        return float(total)
    except OverflowError:
        return None
