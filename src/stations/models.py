"""The station schema: vocabularies, the validated properties of one station, and the station."""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)

from stations import hours


class Kind(StrEnum):
    """What sort of station a feature is."""

    UNION_STATION = "union_station"  # 工会驿站
    WARM_STATION = "warm_station"  # 暖心小站
    COLD_DRINK_FRIDGE = "cold_drink_fridge"  # 爱心冰柜
    WORKER_SERVICE_POINT = "worker_service_point"  # 户外劳动者服务站点 (other operators)


class Status(StrEnum):
    """Whether a station is in service."""

    OPEN = "open"
    CLOSED = "closed"
    PLANNED = "planned"


class PositionAccuracy(StrEnum):
    """How well a station's coordinates are known."""

    SURVEYED = "surveyed"  # measured on site (GPS) or from an authoritative address point
    APPROXIMATE = "approximate"  # placed at the nearest known place; see ``source``
    UNKNOWN = "unknown"  # no position known; geometry is null and queries skip it


class Amenity(StrEnum):
    """The fixed vocabulary of what a station offers."""

    DRINKING_WATER = "drinking_water"
    HOT_WATER = "hot_water"
    MICROWAVE = "microwave"
    FRIDGE = "fridge"
    PHONE_CHARGING = "phone_charging"
    EBIKE_CHARGING = "ebike_charging"
    TOILET = "toilet"
    SEATING = "seating"
    AIR_CONDITIONING = "air_conditioning"
    HEATING = "heating"
    FIRST_AID = "first_aid"
    WIFI = "wifi"
    BOOKS = "books"
    UMBRELLAS = "umbrellas"
    REPAIR_TOOLS = "repair_tools"
    COLD_DRINKS = "cold_drinks"


#: Labels riders see, (zh, en).
KIND_LABELS: dict[Kind, tuple[str, str]] = {
    Kind.UNION_STATION: ("工会驿站", "Union rest station"),
    Kind.WARM_STATION: ("暖心小站", "Warm station"),
    Kind.COLD_DRINK_FRIDGE: ("爱心冰柜", "Free cold-drink fridge"),
    Kind.WORKER_SERVICE_POINT: ("户外劳动者服务站点", "Outdoor workers' service point"),
}
AMENITY_LABELS: dict[Amenity, tuple[str, str]] = {
    Amenity.DRINKING_WATER: ("饮用水", "drinking water"),
    Amenity.HOT_WATER: ("热水", "hot water"),
    Amenity.MICROWAVE: ("微波炉", "microwave"),
    Amenity.FRIDGE: ("冰箱", "fridge"),
    Amenity.PHONE_CHARGING: ("手机充电", "phone charging"),
    Amenity.EBIKE_CHARGING: ("电动车充电", "e-bike charging"),
    Amenity.TOILET: ("厕所", "toilet"),
    Amenity.SEATING: ("座椅休息", "seating"),
    Amenity.AIR_CONDITIONING: ("空调", "air conditioning"),
    Amenity.HEATING: ("取暖", "heating"),
    Amenity.FIRST_AID: ("急救药箱", "first aid"),
    Amenity.WIFI: ("无线网络", "wifi"),
    Amenity.BOOKS: ("图书", "books"),
    Amenity.UMBRELLAS: ("雨伞", "umbrellas"),
    Amenity.REPAIR_TOOLS: ("维修工具", "repair tools"),
    Amenity.COLD_DRINKS: ("冷饮", "cold drinks"),
}

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: ``surveyed_at``: ISO 8601 in UTC with a ``Z`` (what ``Date.toISOString()`` writes).
SURVEYED_AT_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
#: ``surveyed_by``: a token label (`stations.setting_checks.TOKEN_LABEL`).
LABEL_PATTERN = re.compile(r"^[\w.@-]{1,64}$")
#: Survey fields left out of a station's JSON when unset, so unsurveyed stations read as before.
SURVEY_FIELDS = ("accuracy_m", "surveyed_at", "surveyed_by")
#: The largest ``accuracy_m`` stored (m): a worse fix is no survey.
MAX_ACCURACY_M = 1000
PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 \-]{4,24}$")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
#: Bounds on what one station may hold: every string and list is bounded, so a stored
#: feature stays small whatever a writer sends.
MAX_AWARDS = 50
MAX_HOURS_LENGTH = 500
#: Surrounding whitespace means nothing in codes and expressions (a phone keyboard adds a
#: space after a word): it is stripped on input, so what is stored, previewed and shown agree.
Hours = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_HOURS_LENGTH)]

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60
_SHOWN.maxlist = _SHOWN.maxdict = 4
_SHOWN.maxlevel = 2


def shown(value: object) -> str:
    """``repr(value)`` cut short, for messages about values a client sent (any size or depth)."""
    return _SHOWN.repr(value)


class StationProperties(BaseModel):
    """Properties of one station feature, exactly as stored in ``stations.geojson``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    id: str = Field(description="Stable slug: lower-case letters, digits and '-'.")
    name: Text = Field(description="Name in Chinese, as riders see it.")
    name_en: Text | None = Field(default=None, description="Name in English.")
    kind: Kind
    town: Text | None = Field(default=None, description="Town (镇/街道) the station is in.")
    address: Text | None = None
    amenities: list[Amenity] = Field(default_factory=list, max_length=len(Amenity))
    opening_hours: Hours | None = Field(
        default=None, description="OpenStreetMap opening_hours syntax; null if unknown."
    )
    phone: Annotated[str, StringConstraints(strip_whitespace=True)] | None = None
    awards: list[Text] = Field(default_factory=list, max_length=MAX_AWARDS)
    status: Status = Status.OPEN
    position_accuracy: PositionAccuracy
    source: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
    ] = Field(description="Where the station and its position come from.")
    notes: Annotated[str, StringConstraints(max_length=1000)] | None = None
    accuracy_m: Annotated[float, Field(gt=0, le=MAX_ACCURACY_M, strict=True)] | None = Field(
        default=None, description="Radius (m) of the surveyed position's 68% confidence."
    )
    surveyed_at: str | None = Field(
        default=None, description="When the position was surveyed (ISO 8601, UTC, 'Z')."
    )
    surveyed_by: str | None = Field(
        default=None, description="Who surveyed it: the writer's token label, set by the server."
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"id {shown(value)} must be 1-64 characters of a-z, 0-9 and '-', starting with a "
                "letter or digit"
            )
        return value

    @field_validator("amenities")
    @classmethod
    def _unique_amenities(cls, value: list[Amenity]) -> list[Amenity]:
        if len(set(value)) != len(value):
            raise ValueError("amenities lists an amenity twice")
        return value

    @field_validator("opening_hours")
    @classmethod
    def _check_hours(cls, value: str | None) -> str | None:
        if value is not None:
            hours.parse(value)
        return value

    @field_validator("surveyed_at")
    @classmethod
    def _check_surveyed_at(cls, value: str | None) -> str | None:
        if value is None:
            return value
        problem = f"surveyed_at {shown(value)} must be ISO 8601 in UTC, e.g. 2026-05-01T08:30:00Z"
        if not SURVEYED_AT_PATTERN.fullmatch(value):
            raise ValueError(problem)
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(problem) from None
        if moment.year < 2000 or moment - datetime.now(UTC) > timedelta(days=1):
            raise ValueError(f"surveyed_at {shown(value)} is not a plausible survey time")
        return value

    @field_validator("surveyed_by")
    @classmethod
    def _check_surveyed_by(cls, value: str | None) -> str | None:
        if value is not None and not LABEL_PATTERN.fullmatch(value):
            raise ValueError(
                f"surveyed_by {shown(value)} must be a token label (1-64 letters, digits, _ . @ -)"
            )
        return value

    @model_validator(mode="after")
    def _survey_needs_a_position(self) -> StationProperties:
        if self.position_accuracy is PositionAccuracy.UNKNOWN and (
            self.accuracy_m is not None or self.surveyed_at is not None
        ):
            raise ValueError(
                "accuracy_m and surveyed_at describe a position, but position_accuracy is 'unknown'"
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_unset_survey(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in SURVEY_FIELDS:
            if data.get(key, 0) is None:
                del data[key]
        return data

    @field_validator("phone")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        if value is not None and not PHONE_PATTERN.fullmatch(value):
            raise ValueError(f"phone {shown(value)} must be digits, spaces, '-' and a leading '+'")
        return value


#: Properties whose surrounding whitespace the schema strips (texts, codes, expressions).
STRIPPED = ("name", "name_en", "town", "address", "awards", "opening_hours", "phone", "source")


def stripped(props: dict[str, Any], model: StationProperties) -> dict[str, Any]:
    """``props`` with its `STRIPPED` members as ``model`` (read from them) holds them.

    What is stored is then what the schema reads; every other member stays as given.
    """
    return {
        key: getattr(model, key) if key in STRIPPED and value is not None else value
        for key, value in props.items()
    }


@dataclass(frozen=True, slots=True)
class Station:
    """One validated station: its properties and WGS84 position (None when unlocated)."""

    props: StationProperties
    lon: float | None
    lat: float | None

    @property
    def id(self) -> str:
        """The station's stable id."""
        return self.props.id

    @property
    def located(self) -> bool:
        """Whether the station has a position."""
        return self.lon is not None
