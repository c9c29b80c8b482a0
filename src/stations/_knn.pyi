"""Type stub of the compiled k-nearest search (`src/stations/_knn.c`)."""

import numpy as np
import numpy.typing as npt

class KNNTree:
    """A k-d tree over unit vectors, carrying each point's lon, lat and rank."""

    def __init__(
        self,
        xyz: npt.NDArray[np.float64],
        lons: npt.NDArray[np.float64],
        lats: npt.NDArray[np.float64],
        ranks: npt.NDArray[np.int64],
    ) -> None: ...
    @property
    def size(self) -> int: ...
    def query(
        self,
        x: float,
        y: float,
        z: float,
        k: int,
        bound: float | None = None,
        mask: npt.NDArray[np.bool_] | bytes | None = None,
        /,
    ) -> list[tuple[float, int, int, float, float]]: ...
