"""The PostgreSQL/PostGIS store: schema and migrations, connections, the store, rider reports."""

from stations.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
