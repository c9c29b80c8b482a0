"""Dependencies: the typed values routes receive (shared state; query strings: see params)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stations.api.params import CrsQuery, QueryParams
from stations.api.state import Services, services_of
from stations.catalog import Catalog
from stations.coords import CRS
from stations.holder import CatalogHolder
from stations.settings import Settings
from stations.storage.reports import ReportStore


def client_address(request: Request) -> str:
    """The client's address (the right hop when trusted proxies are configured)."""
    return request.client.host if request.client else "unknown"


async def get_services(request: Request) -> Services:
    """The app's shared state."""
    return services_of(request)


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return services_of(request).settings


async def get_holder(request: Request) -> CatalogHolder:
    """The catalog holder (follows the data files; writers refresh it)."""
    return services_of(request).holder


async def get_catalog(request: Request) -> Catalog:
    """The catalog in service (reloaded when the data files change)."""
    return await services_of(request).holder.get()


async def get_reports(request: Request) -> ReportStore:
    """The riders' reports database."""
    return services_of(request).reports


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[CatalogHolder, Depends(get_holder)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ReportsDep = Annotated[ReportStore, Depends(get_reports)]

CRS_QUERY = QueryParams(CrsQuery)


async def crs_param(query: Annotated[CrsQuery, Depends(CRS_QUERY)]) -> CRS:
    """The ``crs`` of a route whose only query parameter it is."""
    return query.crs


CrsParam = Annotated[CRS, Depends(crs_param)]
