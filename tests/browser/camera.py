"""A phone camera pointed at a device label, for Chromium's fake capture device: a QR code
drawn with segno, written as a YUV4MPEG2 (C420) video that
``--use-file-for-fake-video-capture`` plays in a loop."""

from __future__ import annotations

from pathlib import Path

import segno

WHITE, BLACK, GREY = 235, 16, 128  # luma (video range) and the neutral chroma
MODULE_PX = 8
QUIET_MODULES = 4  # the blank margin a reader needs around the code


def qr_label_video(text: str, path: Path, width: int = 640, height: int = 480) -> Path:
    """A few identical frames of ``text`` as a QR code in the middle of a white label."""
    matrix = segno.make_qr(text, error="m").matrix  # not Micro QR: phones read QR
    side = (len(matrix) + 2 * QUIET_MODULES) * MODULE_PX
    if side > min(width, height):
        raise ValueError(f"{text!r} makes a {side} px code: larger than the frame")
    luma = bytearray([WHITE]) * (width * height)
    left, top = (width - side) // 2, (height - side) // 2
    offset = QUIET_MODULES * MODULE_PX
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if not dark:
                continue
            x = left + offset + c * MODULE_PX
            for y in range(top + offset + r * MODULE_PX, top + offset + (r + 1) * MODULE_PX):
                luma[y * width + x : y * width + x + MODULE_PX] = bytes([BLACK]) * MODULE_PX
    chroma = bytes([GREY]) * ((width // 2) * (height // 2))
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420\n".encode()
    path.write_bytes(header + frame * 5)
    return path
