"""Domain errors; the API maps them to HTTP status codes in one place."""

from __future__ import annotations


class StationsError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInput(StationsError, ValueError):
    """A query parameter or argument is out of range or malformed."""


class InvalidCoordinates(InvalidInput):
    """A longitude/latitude pair is not a usable WGS84/GCJ-02/BD-09 position."""


class StationNotFound(StationsError, LookupError):
    """No station has the requested id."""


class Unauthorized(StationsError):
    """No (or a malformed) credential on a write."""


class Forbidden(StationsError):
    """A credential that does not allow this, or writes disabled."""


class Conflict(StationsError):
    """The change collides with the stored data (e.g. an id already in use)."""


class PreconditionFailed(StationsError):
    """A write based on a version of the data that has changed since (``If-Match``)."""


class TooManyAttempts(StationsError):
    """Too many wrong tokens from one client; ``retry_after`` seconds until it may try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(StationsError):
    """The store's database cannot be reached: reads go on from memory, writes must wait."""


class DataError(StationsError):
    """A data file is unreadable or invalid; ``problems`` lists every issue found."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        head = problems[0] if problems else "invalid data"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{path}: {head}{more}")

    def __reduce__(self) -> tuple[type[DataError], tuple[str, list[str]]]:
        """Pickle by constructor arguments (errors cross process boundaries in ``serve``)."""
        return DataError, (self.path, self.problems)
