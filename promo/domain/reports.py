"""What a campaign changed: the difference between the share of treated customers and the
share of the comparison group who did something (bought a promoted product during the
campaign), with a 95% confidence interval.

The interval is Wald's for a difference of two proportions,
``d +/- 1.96 * sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2)``: what a randomised holdout
supports. A held-out customer never gets the coupon, so redemption cannot be compared;
buying the promoted products can.
"""
from __future__ import annotations

import dataclasses
import math

Z_95 = 1.959963984540054


@dataclasses.dataclass(frozen=True)
class Uplift:
    treated: int
    treated_converted: int
    control: int
    control_converted: int

    @property
    def treated_rate(self) -> float:
        return self.treated_converted / self.treated

    @property
    def control_rate(self) -> float:
        return self.control_converted / self.control

    @property
    def difference(self) -> float:
        return self.treated_rate - self.control_rate

    @property
    def standard_error(self) -> float:
        p1, p2 = self.treated_rate, self.control_rate
        return math.sqrt(p1 * (1 - p1) / self.treated + p2 * (1 - p2) / self.control)

    @property
    def interval(self) -> tuple[float, float]:
        margin = Z_95 * self.standard_error
        return self.difference - margin, self.difference + margin

    @property
    def relative(self) -> float | None:
        """The difference over the comparison group's rate (None when that rate is 0)."""
        return self.difference / self.control_rate if self.control_converted else None


def uplift(treated: int, treated_converted: int, control: int, control_converted: int) -> Uplift | None:
    """None when either group is empty: there is nothing to compare."""
    if treated <= 0 or control <= 0:
        return None
    if not (0 <= treated_converted <= treated and 0 <= control_converted <= control):
        raise ValueError("converted customers must be within their group")
    return Uplift(treated, treated_converted, control, control_converted)
