"""Filter masks over a catalog's index positions, for the fixed vocabularies.

Kinds, statuses and amenities come from closed enums, so each position holds small integer
codes (amenities as bits) and a filter is a few vectorised comparisons; `Vocabulary.mask`
caches the result per filter combination, and `Vocabulary.changed` carries the cached masks
over to a catalog derived by writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from stations.index import BoolArray
from stations.models import Amenity, Kind, Station, Status

#: Filter combinations whose masks a catalog keeps.
MASK_LIMIT = 256

KIND_CODE = {k: i for i, k in enumerate(Kind)}
STATUS_CODE = {s: i for i, s in enumerate(Status)}
AMENITY_BIT = {a: 1 << i for i, a in enumerate(Amenity)}

MaskKey = tuple[frozenset[Kind], frozenset[Amenity], frozenset[Status]]
OPEN = (Status.OPEN,)
OPEN_KEY: MaskKey = (frozenset(), frozenset(), frozenset(OPEN))


class Vocabulary:
    """Kind and status codes and amenity bits per position, and the masks built from them.

    Masks are cached per filter combination and carried over to derived catalogs, so a query
    pays O(n) only the first time its filters are asked.
    """

    def __init__(
        self,
        kind: npt.NDArray[np.int8],
        status: npt.NDArray[np.int8],
        amenities: npt.NDArray[np.int64],
        masks: dict[MaskKey, BoolArray | None] | None = None,
    ) -> None:
        self.kind, self.status, self.amenities = kind, status, amenities
        self.masks = masks or {}

    @classmethod
    def of(cls, stations: Sequence[Station]) -> Vocabulary:
        """The codes of ``stations``, one per position."""
        kind = np.array([KIND_CODE[s.props.kind] for s in stations], dtype=np.int8)
        status = np.array([STATUS_CODE[s.props.status] for s in stations], dtype=np.int8)
        amenities = np.array(
            [sum(AMENITY_BIT[a] for a in s.props.amenities) for s in stations], dtype=np.int64
        )
        return cls(kind, status, amenities)

    def matching(
        self, kinds: frozenset[Kind], amenities: frozenset[Amenity], statuses: frozenset[Status]
    ) -> BoolArray:
        """Any of ``kinds``, one of ``statuses``, all of ``amenities`` (empty: no condition)."""
        out = np.ones(len(self.kind), dtype=bool)
        if kinds:
            out &= np.isin(self.kind, [KIND_CODE[k] for k in kinds])
        if statuses:
            out &= np.isin(self.status, [STATUS_CODE[s] for s in statuses])
        bits = sum(AMENITY_BIT[a] for a in amenities)
        if bits:
            out &= (self.amenities & bits) == bits
        return out

    def mask(self, key: MaskKey, alive: BoolArray | None) -> BoolArray | None:
        """The live positions matching ``key`` (cached); None: every position."""
        if key not in self.masks:
            out = self.matching(*key)
            if alive is not None:
                out &= alive
            if len(self.masks) >= MASK_LIMIT:
                self.masks.clear()
            self.masks[key] = None if out.all() else out
        return self.masks[key]

    def changed(self, fresh: Sequence[Station], dead: list[int]) -> Vocabulary:
        """The codes with ``fresh`` appended, and the cached masks without ``dead``."""
        part = Vocabulary.of(fresh)
        out = Vocabulary(
            np.concatenate([self.kind, part.kind]),
            np.concatenate([self.status, part.status]),
            np.concatenate([self.amenities, part.amenities]),
        )
        for key, mask in self.masks.items():
            whole = np.concatenate(
                [np.ones(len(self.kind), bool) if mask is None else mask, part.matching(*key)]
            )
            whole[dead] = False
            out.masks[key] = None if whole.all() else whole
        return out
