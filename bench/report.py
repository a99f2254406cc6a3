"""The benchmark's results: one row per measurement and database, with min / median /
max, the goal of issue 15 and whether the median meets it; as one Markdown table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Goal:
    """A limit the median must keep: `op` is "<" or "≥"."""

    op: str
    limit: float
    unit: str  # of the limit: "ms", "%", "×", "s" or "MiB"
    only: str = ""  # the database the goal is set for ("PostgreSQL"), or any

    @property
    def label(self) -> str:
        limit = f"{self.limit:g}"
        text = f"{self.op} {limit}{_suffix(self.unit)}"
        return f"{text} on {self.only}" if self.only else text

    def met(self, value: float) -> bool:
        return value < self.limit if self.op == "<" else value >= self.limit


@dataclass
class Result:
    """A row of the table. Values are in the goal's unit (a share of hello in %)."""

    order: tuple[int, int]  # where the row stands: the measurement, then its part
    what: str
    database: str
    goal: Goal
    values: list[float] = field(default_factory=list)
    above: float | None = None  # capped: the value is above this, nothing more is known
    note: str = ""  # what went wrong, or what the reader must know

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def value(self) -> str:
        unit = _suffix(self.goal.unit)
        if self.above is not None:
            text = f"> {_number(self.above)}{unit} (capped)"
        elif not self.values:
            return self.note or "—"
        else:
            low, mid, high = min(self.values), self.median, max(self.values)
            text = f"{_number(low)} / {_number(mid)} / {_number(high)}{unit}"
        return f"{text}; {self.note}" if self.note else text

    @property
    def met(self) -> str:
        if self.above is not None:
            verdict = self.goal.met(self.above) if self.goal.op == "≥" else False
        elif self.median is None:
            return "—"
        else:
            verdict = self.goal.met(self.median)
        word = "yes" if verdict else "no"
        if self.goal.only and self.goal.only != self.database:
            return f"({word})"  # the goal is for another database: for information
        return word


def _suffix(unit: str) -> str:
    return "" if unit == "×" else f" {unit}"


def _number(value: float) -> str:
    magnitude = abs(round(value, 2))
    if magnitude >= 100:
        return f"{value:,.0f}".replace(",", " ")
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


HEADINGS = ("what", "database", "value (min / median / max)", "goal", "met?")


def table(results: list[Result], databases: list[str]) -> str:
    """The results as a Markdown table, padded so that it reads in a terminal too."""
    rank = {name: n for n, name in enumerate(databases)}
    ordered = sorted(results, key=lambda r: (r.order, rank.get(r.database, len(rank))))
    rows = [HEADINGS] + [(r.what, r.database, r.value, r.goal.label, r.met) for r in ordered]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(rows[0]), separator, *(line(row) for row in rows[1:])])
