"""Trade-union rest stations (工会驿站) on Nanchuan's 178 loop, and beyond."""

__version__ = "0.1.0"
