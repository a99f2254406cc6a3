"""URL rules: the `<id:…>` converter, and rules whose URL builders are compiled once a
process.

Werkzeug compiles Python code to build the URLs of each rule when the rule is added, and
that is nearly all of what `create_app()` costs. A process that creates many apps (the
tests, the benchmarks) would compile the same builders again for every one; `Rule`
compiles each distinct rule's builders once and lets every app's rule use them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from werkzeug import routing


class Rule(routing.Rule):
    """A Werkzeug rule sharing its compiled URL builders with the same rule of other apps.

    A builder is a plain function of the rule's parts (its `self` is passed when called),
    so two rules with the same parts have the same builders. Rules with defaults compile
    their own: a default may be written into the builder through its converter."""

    _builders: ClassVar[dict[tuple[Any, ...], Callable[..., tuple[str, str]]]] = {}

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        if self.defaults:
            return super()._compile_builder(append_unknown)
        key = (tuple(self._trace), append_unknown)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = super()._compile_builder(append_unknown)
        return builder


class IdConverter(routing.IntegerConverter):
    """`<id:name>`: a positive database id that fits a 32-bit integer column.

    A larger number is simply not found (404) instead of an overflow in the database.
    """

    def __init__(self, map: routing.Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=2**31 - 1)
