"""Wheel input in whole steps, for high-resolution wheels and touchpads as for plain mice (Qt-free).

Qt reports a wheel turn as angleDelta in eighths of a degree: a plain mouse notch is one event of 120, a
high-resolution wheel or a touchpad sends the same notch as several smaller events (8 x 15, say). A step is
taken per 120 summed, never per event, so one notch moves one slice whatever the device."""

from __future__ import annotations

NOTCH = 120  # angleDelta of one standard wheel notch


class WheelSteps:
    """Sums angleDelta and hands out whole notches; the remainder waits for the next event and is dropped
    when the turn reverses (a small turn back must not first pay off what was left going forward)."""

    def __init__(self) -> None:
        self._rest = 0

    def add(self, delta: int) -> int:
        """Whole notches (signed) that ``delta`` completes."""
        if self._rest and delta and (delta > 0) != (self._rest > 0):
            self._rest = 0
        total = self._rest + int(delta)
        steps = int(total / NOTCH)  # toward zero, for either sign
        self._rest = total - steps * NOTCH
        return steps

    def reset(self) -> None:
        self._rest = 0


def notches(delta: int) -> float:
    """``delta`` as a (fractional) number of notches, for smooth actions such as zoom."""
    return delta / NOTCH
