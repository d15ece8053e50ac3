"""Guess the contrast phase (non-contrast, arterial, portal venous, delayed) of each series of a study.

Rules, strongest first, each giving the reason the UI shows:
1. a phase word in SeriesDescription / ProtocolName / file name ("art", "pv", "delayed", "nc", ...);
2. the delay between ContrastBolusStartTime and the acquisition (< 50 s arterial, < 120 s portal
   venous, later delayed);
3. the image itself, when the evidence carries the volume: aorta, liver-vein and liver HU tell
   non-contrast, arterial, portal venous and delayed apart (liverview.io.contrast_enhancement); two
   series that look alike (or like a phase already named) are left to rule 4;
4. for the rest, acquisition order: the first one without a contrast agent is non-contrast, then
   arterial, portal venous, delayed, keeping to the order of the phases already known.
A single series without tags or a readable image is left unknown: one series has no order to go by.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from liverview.core.study import PHASE_ORDER, PhaseKind
from liverview.core.volume import Volume
from liverview.io.contrast_enhancement import phase_from_image

# Phrases first (longest wins), so "late arterial" is arterial and not delayed.
_PHRASES: list[tuple[str, PhaseKind]] = [
    ("late arterial", PhaseKind.ARTERIAL),
    ("early arterial", PhaseKind.ARTERIAL),
    ("hepatic arterial", PhaseKind.ARTERIAL),
    ("arterial phase", PhaseKind.ARTERIAL),
    ("portal venous", PhaseKind.PORTAL_VENOUS),
    ("portal vein", PhaseKind.PORTAL_VENOUS),
    ("venous phase", PhaseKind.PORTAL_VENOUS),
    ("non contrast", PhaseKind.NON_CONTRAST),
    ("non con", PhaseKind.NON_CONTRAST),
    ("without contrast", PhaseKind.NON_CONTRAST),
    ("no contrast", PhaseKind.NON_CONTRAST),
    ("pre contrast", PhaseKind.NON_CONTRAST),
    ("non enhanced", PhaseKind.NON_CONTRAST),
    ("delayed phase", PhaseKind.DELAYED),
    ("equilibrium phase", PhaseKind.DELAYED),
]
_WORDS: dict[str, PhaseKind] = {
    **dict.fromkeys(("arterial", "art", "hap", "lap", "eap"), PhaseKind.ARTERIAL),
    **dict.fromkeys(("portal", "pv", "pvp", "venous", "portalvenous", "ven"), PhaseKind.PORTAL_VENOUS),
    **dict.fromkeys(("delay", "delayed", "equilibrium", "eq", "late", "del", "transitional"), PhaseKind.DELAYED),
    **dict.fromkeys(
        ("noncontrast", "noncon", "plain", "native", "pre", "precontrast", "nc", "wo", "unenhanced",
         "nonenhanced", "uncontrasted"),
        PhaseKind.NON_CONTRAST,
    ),
}
# ContrastBolusAgent values that mean "no contrast was given".
_NO_AGENT = {"none", "no", "n/a", "na", "nil", "-", "0", "no contrast", "without"}

ARTERIAL_MAX_DELAY_S = 50.0  # typical hepatic arterial phase: 20-45 s after injection
PORTAL_MAX_DELAY_S = 120.0  # portal venous: 60-90 s; delayed / equilibrium: 3-5 min


@dataclass
class PhaseEvidence:
    """What is known about one series (or file) that hints at its phase."""

    description: str = ""
    protocol_name: str = ""
    file_name: str = ""
    contrast_agent: str | None = None
    contrast_start_time_s: float | None = None  # seconds since midnight
    acquisition_time_s: float | None = None  # seconds since midnight
    series_number: int | None = None
    volume: Volume | None = field(default=None, repr=False, compare=False)  # read only when tags are silent


@dataclass
class PhaseGuess:
    """The phase given to one series and why; ``rule`` is 'keyword', 'contrast-timing', 'image', 'order'
    or 'none'."""

    kind: PhaseKind
    reason: str
    rule: str


def _normalise(text: str) -> str:
    """Lower-case words: camelCase and letter/digit joins split, separators to single spaces."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"\bw/o\b", " wo ", text.lower())
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = re.sub(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", " ", text)
    return " ".join(text.split())


def phase_from_text(text: str) -> tuple[PhaseKind, str] | None:
    """The phase named in a description / file name and the words that named it, or None.

    None also when the text names two different phases (e.g. "arterial and portal").
    """
    norm = f" {_normalise(text)} "
    if not norm.strip():
        return None
    found: dict[PhaseKind, str] = {}
    for phrase, kind in sorted(_PHRASES, key=lambda pk: -len(pk[0])):
        if f" {phrase} " in norm:
            found.setdefault(kind, phrase)
            norm = norm.replace(f" {phrase} ", " | ")
    for word in norm.split():
        kind = _WORDS.get(word)
        if kind is not None:
            found.setdefault(kind, word)
    if len(found) != 1:
        return None
    ((kind, word),) = found.items()
    return kind, word


def contrast_given(agent: str | None) -> bool | None:
    """True when ContrastBolusAgent names an agent, False when it says none, None when absent."""
    if agent is None or not agent.strip():
        return None
    return agent.strip().lower() not in _NO_AGENT


def _keyword_guess(ev: PhaseEvidence) -> PhaseGuess | None:
    for label, text in (("series description", ev.description), ("protocol name", ev.protocol_name),
                        ("file name", ev.file_name)):
        hit = phase_from_text(text or "")
        if hit is not None:
            kind, word = hit
            return PhaseGuess(kind, f"{label} '{text}' says '{word}'", "keyword")
    return None


def _timing_guess(ev: PhaseEvidence) -> PhaseGuess | None:
    if ev.contrast_start_time_s is None or ev.acquisition_time_s is None:
        return None
    delay = ev.acquisition_time_s - ev.contrast_start_time_s
    if delay < -12 * 3600:  # acquired after midnight, injected before
        delay += 24 * 3600
    if delay < 0:
        return None
    if delay < ARTERIAL_MAX_DELAY_S:
        kind = PhaseKind.ARTERIAL
    elif delay < PORTAL_MAX_DELAY_S:
        kind = PhaseKind.PORTAL_VENOUS
    else:
        kind = PhaseKind.DELAYED
    return PhaseGuess(kind, f"acquired {delay:.0f} s after contrast injection start", "contrast-timing")


def _image_guesses(evidence: Sequence[PhaseEvidence], guesses: list[PhaseGuess | None]) -> None:
    """Fill the series that tags left unknown from their image, unless two look alike (or like a phase
    already named): those stay for the order rule."""
    found: dict[int, PhaseGuess] = {}
    for n, ev in enumerate(evidence):
        if guesses[n] is None and ev.volume is not None:
            seen = phase_from_image(ev.volume)
            if seen is not None:
                found[n] = PhaseGuess(seen.kind, seen.reason, "image")
    named = {g.kind for g in guesses if g is not None}
    counts = Counter(g.kind for g in found.values())
    for n, g in found.items():
        if g.kind not in named and counts[g.kind] == 1:
            guesses[n] = g


def infer_phases(evidence: Sequence[PhaseEvidence]) -> list[PhaseGuess]:
    """One PhaseGuess per evidence item (same order) for the series of one study."""
    guesses: list[PhaseGuess | None] = [_keyword_guess(ev) or _timing_guess(ev) for ev in evidence]
    _image_guesses(evidence, guesses)
    unknown = [n for n, g in enumerate(guesses) if g is None]
    if len(evidence) < 2 or not unknown:
        return [g or PhaseGuess(PhaseKind.UNKNOWN, "no phase word, contrast timing, readable image or other "
                                "series to compare with", "none") for g in guesses]

    have_times = all(ev.acquisition_time_s is not None for ev in evidence)
    have_numbers = all(ev.series_number is not None for ev in evidence)
    if have_times:
        basis = "acquisition time"
        key = {n: (ev.acquisition_time_s, n) for n, ev in enumerate(evidence)}
    elif have_numbers:
        basis = "series number (no acquisition times)"
        key = {n: (float(ev.series_number or 0), n) for n, ev in enumerate(evidence)}
    else:
        basis = "input order (no acquisition times or series numbers)"
        key = {n: (0.0, n) for n in range(len(evidence))}

    rank = {k: r for r, k in enumerate(PHASE_ORDER)}
    order = sorted(range(len(evidence)), key=lambda n: key[n])
    position = {n: p for p, n in enumerate(order)}
    used = {g.kind for g in guesses if g is not None}
    for n in sorted(unknown, key=lambda m: key[m]):
        # Phases of series known so far bound this one: after every earlier one, before every later one.
        lo = max((rank[g.kind] for m, g in enumerate(guesses)
                  if g is not None and g.kind in rank and position[m] < position[n]), default=-1)
        hi = min((rank[g.kind] for m, g in enumerate(guesses)
                  if g is not None and g.kind in rank and position[m] > position[n]), default=len(PHASE_ORDER))
        contrast = contrast_given(evidence[n].contrast_agent) or evidence[n].contrast_start_time_s is not None
        choice: PhaseKind | None = None
        for kind in PHASE_ORDER:
            if kind in used or not lo < rank[kind] < hi:
                continue
            if kind is PhaseKind.NON_CONTRAST and contrast:
                continue
            choice = kind
            break
        nth = f"{position[n] + 1} of {len(evidence)} by {basis}"
        if choice is None:
            guesses[n] = PhaseGuess(PhaseKind.UNKNOWN, f"{nth}: no phase left that fits this order", "none")
            continue
        if choice is PhaseKind.NON_CONTRAST:
            agent = contrast_given(evidence[n].contrast_agent)
            why = "ContrastBolusAgent says none" if agent is False else "no contrast agent recorded"
            reason = f"{nth}, first without contrast ({why})"
        else:
            reason = f"{nth}, next phase in order"
        guesses[n] = PhaseGuess(choice, reason, "order")
        used.add(choice)
    return [g for g in guesses if g is not None]
