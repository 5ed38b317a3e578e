"""``/devices``: register, list, inspect and remove sensors; see what talks unregistered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import status as http

from gateway.api.auth import INSTALLER, VIEWER
from gateway.api.context import ApiContext, Context
from gateway.api.views import DeviceView, ImportView, UnregisteredView
from gateway.model import Device, DeviceStatus
from gateway.registry import InvalidError, NotFoundError, Problem, import_devices_csv
from gateway.registry.inputs import DeviceEditIn, DeviceIn

MAX_CSV_BYTES = 16 * 1024 * 1024  # ~100k rows; a city rolls out in batches, not one file

router = APIRouter(prefix="/devices", tags=["devices"])


def _view(ctx: ApiContext, device: Device) -> DeviceView:
    return DeviceView.of(device, ctx.tracker.status(device.id), ctx.tracker.get(device.id))


def _registered(ctx: ApiContext, devices: Iterable[Device]) -> None:
    """A device just registered is no longer an unknown talker."""
    for device in devices:
        ctx.unregistered.forget(device.id)
        if device.external_id is not None:
            ctx.unregistered.forget(device.external_id)


@router.post("", status_code=http.HTTP_201_CREATED, dependencies=[INSTALLER])
async def add_device(
    body: DeviceIn, ctx: Context, request: Request, response: Response
) -> DeviceView:
    """Register one device; its grid is found from lat/lon when not named."""
    device = await ctx.registry.add_device(body.to_draft())
    _registered(ctx, [device])
    response.headers["Location"] = str(request.url_for("get_device", device_id=device.id))
    return _view(ctx, device)


@router.post(
    "/import",
    status_code=http.HTTP_201_CREATED,
    dependencies=[INSTALLER],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_devices(request: Request, ctx: Context) -> ImportView:
    """Register every device of a CSV file, or none; problems are listed by line number."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_CSV_BYTES:
            message = f"CSV larger than {MAX_CSV_BYTES} bytes; split it"
            raise HTTPException(http.HTTP_413_CONTENT_TOO_LARGE, message)
    devices = await import_devices_csv(ctx.registry, bytes(data))
    _registered(ctx, devices)
    return ImportView(imported=len(devices), ids=[d.id for d in devices])


@router.get("", dependencies=[VIEWER])
def list_devices(
    ctx: Context,
    grid: str | None = None,
    profile: str | None = None,
    status: DeviceStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DeviceView]:
    selected = [
        d
        for d in ctx.registry.devices()
        if (grid is None or d.grid == grid)
        and (profile is None or d.profile == profile)
        and (status is None or ctx.tracker.status(d.id) is status)
    ]
    return [_view(ctx, d) for d in selected[offset : offset + limit]]


# Declared before /{device_id}, which would otherwise take "unregistered" for a device id.
@router.get("/unregistered", dependencies=[VIEWER])
def list_unregistered(ctx: Context) -> list[UnregisteredView]:
    """Who is talking without being registered, most recently heard first."""
    return [UnregisteredView.of(source) for source in ctx.unregistered.list()]


@router.get("/{device_id}", dependencies=[VIEWER])
def get_device(device_id: str, ctx: Context) -> DeviceView:
    device = ctx.registry.by_id(device_id)
    if device is None:
        raise NotFoundError(f"no device {device_id}")
    return _view(ctx, device)


@router.put("/{device_id}", dependencies=[INSTALLER])
async def replace_device(device_id: str, body: DeviceEditIn, ctx: Context) -> DeviceView:
    """Move, rename or re-threshold a device: its whole registration, as for ``POST``; its
    history and last-seen state stay. Another profile is another physical device: 409."""
    if body.id is not None and body.id != device_id:
        problem = Problem(("id",), f"the path names device {device_id}, the body {body.id}")
        raise InvalidError([problem])
    device = await ctx.registry.replace_device(device_id, body.draft_of(device_id))
    _registered(ctx, [device])
    return _view(ctx, device)


@router.delete("/{device_id}", status_code=http.HTTP_204_NO_CONTENT, dependencies=[INSTALLER])
async def delete_device(device_id: str, ctx: Context) -> None:
    await ctx.registry.delete_device(device_id)
    ctx.tracker.forget(device_id)
