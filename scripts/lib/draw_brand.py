"""Draw the integration's brand images (an original drawing, not Enphase's trademark).

    python scripts/lib/draw_brand.py [OUT_DIR]

Needs Pillow (the test environments have it: ``scripts/lib/in-leg current python
scripts/lib/draw_brand.py``). Writes into ``custom_components/enphase_iq_gateway/brand/``
by default, which Home Assistant 2026.x serves at ``/api/brands/integration/<domain>/``:

- ``icon.png`` 256 x 256 and ``icon@2x.png`` 512 x 512: a gateway box with a current wave
  on its front and the sun rising behind it;
- ``logo.png`` (256 high) and ``logo@2x.png`` (512 high): the same box between the sun and
  a house, joined by the wave.

Home Assistant falls back from ``dark_*`` to these, so the colours are chosen to read on
light and dark backgrounds alike. Everything is drawn at four times the size and scaled
down (anti-aliasing), trimmed to the drawing, with a transparent background, and saved
as a palette PNG to keep the files small.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
import sys

from PIL import Image, ImageChops, ImageDraw, ImageStat

SUN = (247, 167, 27, 255)
BOX = (36, 104, 140, 255)
BOX_SHADE = (27, 79, 107, 255)
WAVE = (255, 255, 255, 255)
HOUSE = (92, 110, 122, 255)
CLEAR = (0, 0, 0, 0)
SCALE = 4  # drawn at four times the final size, then scaled down


def _capsule(
    draw: ImageDraw.ImageDraw,
    points: list[tuple[float, float]],
    width: float,
    colour: tuple[int, int, int, int],
) -> None:
    """A thick line through ``points`` with round ends: discs stamped close together."""
    r = width / 2
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        steps = max(1, math.ceil(math.hypot(bx - ax, by - ay) / (r / 8)))
        for i in range(steps + 1):
            x, y = ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def _sun(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, hidden: range = range(0)
) -> None:
    """A disc with twelve short rays (less the ``hidden`` ones, numbered clockwise from 3 o'clock)."""
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SUN)
    for i in range(12):
        if i in hidden:
            continue
        dx, dy = math.cos(math.tau * i / 12), math.sin(math.tau * i / 12)
        ray = [(cx + dx * r * f, cy + dy * r * f) for f in (1.3, 1.6)]
        _capsule(draw, ray, r * 0.22, SUN)


def _wave(
    draw: ImageDraw.ImageDraw,
    x0: float,
    x1: float,
    cy: float,
    *,
    amplitude: float,
    periods: float,
    width: float,
    colour: tuple[int, int, int, int] = WAVE,
) -> None:
    """A sine wave from x0 to x1, as a thick line with round ends."""
    steps = 400
    points = [
        (x0 + (x1 - x0) * i / steps, cy - amplitude * math.sin(math.tau * periods * i / steps))
        for i in range(steps + 1)
    ]
    _capsule(draw, points, width, colour)


def _gateway(image: Image.Image, box: tuple[float, float, float, float], gap: float) -> None:
    """The gateway: a rounded box, cut out of what lies behind it, with a wave and a light."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    radius = w * 0.13
    cut = Image.new("L", image.size, 0)
    ImageDraw.Draw(cut).rounded_rectangle(
        (x0 - gap, y0 - gap, x1 + gap, y1 + gap), radius + gap, fill=255
    )
    image.paste(CLEAR, (0, 0), cut)  # a transparent moat keeps the shapes apart
    draw = ImageDraw.Draw(image)
    # The body, over a darker base strip like the gateway's lower cover.
    base = y1 - (y1 - y0) * 0.2
    draw.rounded_rectangle(box, radius, fill=BOX_SHADE)
    draw.rounded_rectangle((x0, y0, x1, base), radius, fill=BOX, corners=(True, True, False, False))
    _wave(
        draw,
        x0 + w * 0.17,
        x1 - w * 0.17,
        y0 + (base - y0) * 0.5,
        amplitude=(base - y0) * 0.17,
        periods=1.5,
        width=w * 0.085,
    )
    led = w * 0.045
    lx, ly = x1 - w * 0.16, (base + y1) / 2
    draw.ellipse((lx - led, ly - led, lx + led, ly + led), fill=SUN)


def _house(draw: ImageDraw.ImageDraw, x0: float, y1: float, w: float) -> None:
    """A plain house: a pitched roof over a body with a door."""
    h = w * 0.62
    roof = w * 0.45
    x1 = x0 + w
    draw.polygon(
        [(x0 - w * 0.08, y1 - h), (x0 + w / 2, y1 - h - roof), (x1 + w * 0.08, y1 - h)],
        fill=HOUSE,
    )
    draw.rectangle((x0, y1 - h - 1, x1, y1), fill=HOUSE)
    door = w * 0.22
    draw.rectangle((x0 + w / 2 - door / 2, y1 - h * 0.55, x0 + w / 2 + door / 2, y1), fill=CLEAR)


def _finish(image: Image.Image, size: tuple[int, int] | None, height: int | None) -> Image.Image:
    """Trim to the drawing, scale down, centre in ``size`` (or scale to ``height``)."""
    alpha = image.getchannel("A")
    bbox = alpha.getbbox()
    assert bbox is not None
    image = image.crop(bbox)
    if size is not None:
        factor = min(size[0] / image.width, size[1] / image.height)
        scaled = image.resize(
            (round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS
        )
        out = Image.new("RGBA", size, CLEAR)
        out.paste(scaled, ((size[0] - scaled.width) // 2, (size[1] - scaled.height) // 2))
        return out
    assert height is not None
    factor = height / image.height
    return image.resize((round(image.width * factor), height), Image.Resampling.LANCZOS)


def draw_icon() -> Image.Image:
    """The square mark, drawn large."""
    side = 256 * 2 * SCALE
    image = Image.new("RGBA", (side, side), CLEAR)
    draw = ImageDraw.Draw(image)
    # The rays pointing down and to the left would only peek out beside the box.
    _sun(draw, side * 0.70, side * 0.30, side * 0.15, hidden=range(2, 6))
    _gateway(image, (side * 0.04, side * 0.37, side * 0.80, side * 0.97), gap=side * 0.035)
    return image


def draw_logo() -> Image.Image:
    """The landscape logo: sun, gateway and house joined by the wave, drawn large."""
    h = 512 * SCALE
    w = h * 3
    image = Image.new("RGBA", (w, h), CLEAR)
    draw = ImageDraw.Draw(image)
    house_x = w - h * 0.72
    # One wave from the sun to the house; the gateway's moat cuts it where it passes.
    _wave(
        draw,
        h * 0.55,
        house_x - h * 0.14,
        h * 0.62,
        amplitude=h * 0.06,
        periods=4.5,
        width=h * 0.05,
        colour=SUN,
    )
    _sun(draw, h * 0.33, h * 0.34, h * 0.17)
    _gateway(image, (w / 2 - h * 0.36, h * 0.30, w / 2 + h * 0.36, h * 0.94), gap=h * 0.035)
    draw = ImageDraw.Draw(image)
    _house(draw, house_x, h * 0.94, h * 0.5)
    return image


def save(image: Image.Image, path: Path) -> None:
    """Save as a small palette PNG with transparency (the flat colours survive unchanged)."""
    palette = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    error = max(ImageStat.Stat(ImageChops.difference(palette.convert("RGBA"), image)).mean)
    assert error < 1, f"{path.name}: the palette moved colours by {error:.2f} on average"
    palette.save(path, optimize=True)
    print(f"{path}: {image.width} x {image.height}, {path.stat().st_size} bytes")


def main(argv: list[str]) -> int:
    """Draw all four images."""
    out = Path(argv[1]) if len(argv) > 1 else Path("custom_components/enphase_iq_gateway/brand")
    out.mkdir(parents=True, exist_ok=True)
    icon, logo = draw_icon(), draw_logo()
    save(_finish(icon, (256, 256), None), out / "icon.png")
    save(_finish(icon, (512, 512), None), out / "icon@2x.png")
    save(_finish(logo, None, 256), out / "logo.png")
    save(_finish(logo, None, 512), out / "logo@2x.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
