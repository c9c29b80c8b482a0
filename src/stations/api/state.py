"""What every request may need, built once per app and typed: settings, data, reports, pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from stations.api.compaction import IdleCompaction
from stations.holder import CatalogHolder
from stations.limits import WindowLimit
from stations.sessions import failure_limit
from stations.settings import Settings
from stations.storage.postgres.reports import PostgresReportStore
from stations.storage.reports import ReportStore
from stations.web.pages import PageCache


@dataclass(eq=False)
class Services:
    """The app's shared state (one per app; `stations.api.app.create_app` builds it).

    ``holder`` and ``compaction`` are set by the lifespan once the data is loaded; requests are
    served after that.
    """

    settings: Settings
    reports: ReportStore
    pages: PageCache  # built HTML pages
    failures: WindowLimit = field(default_factory=failure_limit)  # wrong admin tokens
    holder: CatalogHolder = field(init=False, repr=False)
    compaction: IdleCompaction = field(init=False, repr=False)

    async def close(self) -> None:
        """Stop what the lifespan started: the idle compaction, and following the store."""
        await self.compaction.close()
        self.holder.close()

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """The services these settings describe (the data itself is loaded by the lifespan)."""
        reports = (
            PostgresReportStore(settings.database_url, per_hour=settings.report_rate_per_hour)
            if settings.database_url
            else ReportStore(settings.reports_file(), per_hour=settings.report_rate_per_hour)
        )
        pages = PageCache(
            settings.page_cache_entries,
            settings.page_cache_bytes,
            settings.page_builds,
            settings.page_builds_per_minute,
        )
        return cls(settings, reports, pages)


def services_of(request: Request) -> Services:
    """The services of the app answering ``request`` (a `stations.api.app.StationsApp`)."""
    services: Services = request.app.services
    return services
