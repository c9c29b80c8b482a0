"""The HTTP API: JSON and GeoJSON over FastAPI, and an OGC API - Features face."""

from stations.api.app import create_app

__all__ = ["create_app"]
