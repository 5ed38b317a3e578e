"""Debian's headless Chromium driven by Playwright for Python — never ``playwright install``.

Each test gets a fresh profile directory. JavaScript errors on any page fail the test. A test
module gives the browser a camera by overriding the ``camera_video`` fixture.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Browser:
    """The persistent context, and every JavaScript error its pages raise."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.errors: list[str] = []

    async def page(self, width: int = 1280, height: int = 900) -> Page:
        page = await self.context.new_page()
        await page.set_viewport_size({"width": width, "height": height})
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        return page


@pytest.fixture
def camera_video() -> Path | None:
    """What the browser's camera sees: a Y4M file (a module overrides this), or no camera."""
    return None


@pytest.fixture
async def browser(tmp_path: Path, camera_video: Path | None) -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("/usr/bin/chromium not found: install the Debian package 'chromium'")
    camera = []
    if camera_video is not None:
        # A fake camera playing the file, and getUserMedia allowed without a prompt.
        camera = [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera_video}",
        ]
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS + camera,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        try:
            found = Browser(context)
            yield found
            assert not found.errors, found.errors
        finally:
            await context.close()
