"""Map external ids (whatever the source file holds) to dense positions 0..n-1."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

from movierec.errors import UnknownIdError

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


class IdMap:
    """A bijection between external ids and dense positions.

    External ids are kept exactly as the source gives them: integers (int64)
    or strings. Positions are ``0..n-1`` in sorted id order, so the same set of
    ids always gives the same positions.

    Lookups take an id of the other kind where it is unambiguous: in a map of
    integer ids, text that spells an integer (``"1"``, ``" 42 "``) is that
    integer and any other text raises ``UnknownIdError``; in a map of text ids,
    an integer is its decimal text. Before, user ``"1"`` of an integer map was
    silently unknown (a cold start in ``predict``).

    Parameters
    ----------
    ids : array-like of shape (n,)
        Distinct external ids, any order; they are sorted here.
    kind : str
        Used in error messages: ``"user"`` or ``"movie"``.

    Raises
    ------
    ValueError
        If ``ids`` has duplicates.
    """

    def __init__(self, ids: Sequence[Any] | np.ndarray | pl.Series, kind: str) -> None:
        series = (
            ids
            if isinstance(ids, pl.Series)
            else pl.Series("id", list(ids) if not isinstance(ids, np.ndarray) else ids)
        )
        series = series.sort()
        if series.n_unique() != series.len():
            raise ValueError(f"{kind} ids must be distinct")
        self.kind = kind
        self.ids: pl.Series = series.alias(f"{kind}_id")
        self._lookup: dict[Any, int] = {v: i for i, v in enumerate(self.ids.to_list())}
        self._integer = self.ids.dtype.is_integer()
        self._text = self.ids.dtype == pl.Utf8

    def __len__(self) -> int:
        return self.ids.len()

    def __contains__(self, external_id: object) -> bool:
        try:
            return self.get(external_id) >= 0
        except UnknownIdError:  # text that is no integer, in a map of integer ids
            return False

    @property
    def is_integer(self) -> bool:
        """True when the external ids are integers."""
        return self.ids.dtype.is_integer()

    def index(self, external_id: Any) -> int:
        """Position of one external id.

        Raises
        ------
        UnknownIdError
            If the id is not in the map.
        """
        try:
            return self._lookup[self._as_key(external_id)]
        except (KeyError, TypeError):
            raise UnknownIdError(f"unknown {self.kind} id {external_id!r}") from None

    def get(self, external_id: Any, default: int = -1) -> int:
        """Position of one external id, or ``default`` when unknown.

        Raises
        ------
        UnknownIdError
            If the id is text that does not spell an integer and the map's ids are integers.
        """
        try:
            return self._lookup.get(self._as_key(external_id), default)
        except TypeError:
            return default

    def _as_key(self, external_id: Any) -> Any:
        """The id in the map's own kind (see the class notes)."""
        if isinstance(external_id, str) and self._integer:
            text = external_id.strip()
            if not _INTEGER.match(text):
                raise UnknownIdError(
                    f"{self.kind} id {external_id!r} is text, but the model's {self.kind} ids are integers; "
                    f"give the integer id"
                )
            return int(text)
        if self._text and isinstance(external_id, int | np.integer) and not isinstance(external_id, bool):
            return str(external_id)
        return external_id

    def positions(self, external_ids: Iterable[Any]) -> np.ndarray:
        """Positions of many ids, -1 for unknown ones.

        Returns
        -------
        ndarray of shape (n,), int64
        """
        return np.fromiter((self.get(x) for x in external_ids), dtype=np.int64)

    def to_ids(self, positions: np.ndarray) -> list[Any]:
        """External ids at the given positions, as Python objects."""
        return self.ids.gather(np.asarray(positions, dtype=np.int64)).to_list()

    def to_series(self, positions: np.ndarray) -> pl.Series:
        """External ids at the given positions, as a Series of the id dtype."""
        return self.ids.gather(np.asarray(positions, dtype=np.int64))
