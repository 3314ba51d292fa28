"""The demo's pictures, drawn with Pillow: a gradient sky, a few hills, a sun and some circles.

Deterministic (the drawing is seeded by the file name): the same bytes on every run, so the
media use case's content dedupe finds a picture uploaded by an earlier run.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

from iven_gql.demo.content import PictureSpec


def _rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def draw(spec: PictureSpec) -> bytes:
    """The encoded picture (JPEG or PNG, as the spec says)."""
    width, height = spec.size
    top, bottom = _rgb(spec.colors[0]), _rgb(spec.colors[1])
    rng = random.Random(spec.name)
    image = Image.new("RGB", (width, height))
    pen = ImageDraw.Draw(image)
    for y in range(height):  # the vertical gradient
        pen.line([(0, y), (width, y)], fill=_mix(top, bottom, y / max(height - 1, 1)))
    radius = min(width, height) // 9  # a sun
    cx, cy = rng.randint(radius, width - radius), rng.randint(radius, height // 3)
    pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 236, 179))
    for layer in range(3):  # hills, darker towards the front
        shade = _mix(bottom, (20, 30, 40), 0.35 + 0.2 * layer)
        base = height * (0.55 + 0.12 * layer)
        points: list[tuple[float, float]] = [(0, height)]
        for x in range(0, width + 80, 80):
            points.append((x, base - rng.randint(0, height // 6)))
        points.append((width, height))
        pen.polygon(points, fill=shade)
    for _ in range(rng.randint(4, 9)):  # a few bubbles of light
        r = rng.randint(6, max(7, radius // 3))
        x, y = rng.randint(0, width), rng.randint(0, height)
        pen.ellipse((x - r, y - r, x + r, y + r), outline=(255, 255, 255), width=3)
    out = io.BytesIO()
    if spec.format == "PNG":
        image.save(out, format="PNG", optimize=False)
    else:
        image.save(out, format="JPEG", quality=85, optimize=False)
    return out.getvalue()
