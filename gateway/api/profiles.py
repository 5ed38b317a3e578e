"""``/profiles``: the device models an installer can register a device as."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from gateway.api.auth import VIEWER
from gateway.api.context import Context
from gateway.api.views import ProfileSummary
from gateway.profiles import DeviceProfile

router = APIRouter(prefix="/profiles", tags=["profiles"], dependencies=[VIEWER])


@router.get("")
def list_profiles(ctx: Context) -> list[ProfileSummary]:
    return [ProfileSummary.of(ctx.profiles[name]) for name in sorted(ctx.profiles)]


@router.get("/{name}")
def get_profile(name: str, ctx: Context) -> DeviceProfile:
    profile = ctx.profiles.get(name)
    if profile is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no profile {name}")
    return profile
