"""Generated pictures of other body parts and other modalities, for teaching and measuring the "not a brain
MRI" gate: chest and limb radiographs, abdominal CT, ultrasound, spine and knee MRI.

These are drawings, not patient images: each is built from the anatomy's main shapes (lungs and ribs, long
bones, a vertebra and organs in a round body, a speckled ultrasound sector, a column of vertebrae, a femur
over a tibia), blurred and noised, with its layout and intensities drawn at random per picture. They are
what a hurried upload of the wrong image looks like at the level of layout, contrast and texture, which is
what the gate reads. No package ships real ones, and the product must not need a download to be measured.
Every generator takes a numpy Generator and returns a float image in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

SIZE = 256


def chest_radiograph(rng: np.random.Generator) -> np.ndarray:
    """Frontal chest X-ray: dark lungs in a grey thorax, ribs, a bright spine and heart, on grey or black."""
    canvas = _canvas(rng.uniform(0.0, 0.45))
    draw = ImageDraw.Draw(canvas)
    s = SIZE
    draw.polygon([(0.12 * s, 0.05 * s), (0.88 * s, 0.05 * s), (0.97 * s, s), (0.03 * s, s)], fill=_grey(rng, 0.55))
    for side in (-1, 1):  # the lungs, dark: air
        centre = 0.5 + side * rng.uniform(0.17, 0.22)
        box = (
            (centre - 0.15) * s,
            rng.uniform(0.12, 0.2) * s,
            (centre + 0.15) * s,
            rng.uniform(0.78, 0.88) * s,
        )
        draw.ellipse(box, fill=_grey(rng, 0.18))
    for rib in range(9):  # bright arcs across both lungs
        top = (0.16 + rib * 0.075) * s
        for side in (-1, 1):
            box = (0.5 * s + min(0, side) * 0.4 * s, top, 0.5 * s + max(0, side) * 0.4 * s, top + 0.12 * s)
            draw.arc(box, 180 if side < 0 else 270, 270 if side < 0 else 360, fill=_grey(rng, 0.75), width=4)
    draw.rectangle((0.47 * s, 0.05 * s, 0.53 * s, s), fill=_grey(rng, 0.8))  # the spine
    draw.ellipse((0.42 * s, 0.45 * s, 0.75 * s, 0.85 * s), fill=_grey(rng, 0.7))  # the heart
    draw.line((0.15 * s, 0.14 * s, 0.47 * s, 0.2 * s), fill=_grey(rng, 0.85), width=6)  # clavicles
    draw.line((0.53 * s, 0.2 * s, 0.85 * s, 0.14 * s), fill=_grey(rng, 0.85), width=6)
    return _finish(canvas, rng, blur=3.0, noise=0.03)


def limb_radiograph(rng: np.random.Generator) -> np.ndarray:
    """A forearm or shin: two long bright bones with a dense cortex inside grey soft tissue, on black."""
    canvas = _canvas(rng.uniform(0.0, 0.1))
    draw = ImageDraw.Draw(canvas)
    s = SIZE
    draw.rounded_rectangle((0.25 * s, -10, 0.75 * s, s + 10), radius=40, fill=_grey(rng, 0.4))
    for left in (rng.uniform(0.3, 0.36), rng.uniform(0.52, 0.58)):
        width = rng.uniform(0.08, 0.12)
        draw.rounded_rectangle((left * s, 0.02 * s, (left + width) * s, 0.98 * s), radius=12, fill=_grey(rng, 0.9))
        inner = (left + width / 3) * s, 0.06 * s, (left + 2 * width / 3) * s, 0.94 * s
        draw.rectangle(inner, fill=_grey(rng, 0.6))  # the marrow, less dense than the cortex
    picture = _finish(canvas, rng, blur=2.0, noise=0.02)
    return np.rot90(picture, int(rng.integers(0, 4))).copy()


def abdominal_ct(rng: np.random.Generator) -> np.ndarray:
    """Axial abdominal CT: a wide round body on black, a fat rim, a bright vertebra, organs, gas, the table."""
    canvas = _canvas(0.0)
    draw = ImageDraw.Draw(canvas)
    s = SIZE
    width, height = rng.uniform(0.38, 0.46), rng.uniform(0.28, 0.34)
    body = (0.5 - width) * s, (0.5 - height) * s, (0.5 + width) * s, (0.5 + height) * s
    draw.ellipse(body, fill=_grey(rng, 0.3))  # subcutaneous fat
    inset = 0.05 * s
    draw.ellipse((body[0] + inset, body[1] + inset, body[2] - inset, body[3] - inset), fill=_grey(rng, 0.5))
    draw.ellipse((0.2 * s, 0.3 * s, 0.48 * s, 0.62 * s), fill=_grey(rng, 0.6))  # the liver
    draw.ellipse((0.58 * s, 0.35 * s, 0.72 * s, 0.5 * s), fill=_grey(rng, 0.55))  # the spleen
    for centre in (0.36, 0.64):  # the kidneys, enhancing
        draw.ellipse(((centre - 0.05) * s, 0.55 * s, (centre + 0.05) * s, 0.68 * s), fill=_grey(rng, 0.75))
    draw.ellipse((0.44 * s, 0.6 * s, 0.56 * s, 0.72 * s), fill=_grey(rng, 0.95))  # the vertebral body
    draw.polygon([(0.46 * s, 0.72 * s), (0.54 * s, 0.72 * s), (0.5 * s, 0.8 * s)], fill=_grey(rng, 0.9))
    for _ in range(int(rng.integers(3, 8))):  # bowel gas: black
        x, y = rng.uniform(0.35, 0.65) * s, rng.uniform(0.3, 0.5) * s
        r = rng.uniform(0.015, 0.04) * s
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_grey(rng, 0.02))
    draw.arc((0.1 * s, 0.75 * s, 0.9 * s, 1.0 * s), 20, 160, fill=_grey(rng, 0.6), width=5)  # the table
    return _finish(canvas, rng, blur=1.2, noise=0.04)


def ultrasound(rng: np.random.Generator) -> np.ndarray:
    """A B-mode sector: a fan opening from the top on black, speckle inside, a dark cyst, a text overlay."""
    s = SIZE
    y, x = np.mgrid[0:s, 0:s].astype(np.float64)
    apex_x, apex_y = s / 2, rng.uniform(-0.1, 0.05) * s
    radius = np.hypot(x - apex_x, y - apex_y)
    angle = np.degrees(np.arctan2(x - apex_x, y - apex_y))
    half_angle = rng.uniform(30, 45)
    sector = (np.abs(angle) < half_angle) & (radius > 0.08 * s) & (radius < 0.95 * s)
    speckle = rng.rayleigh(0.25, (s, s))
    tissue = cv2.GaussianBlur(rng.random((s, s)), (0, 0), 12) * 0.6 + 0.2
    picture = np.where(sector, np.clip(speckle * tissue, 0, 1), 0.0)
    cyst_x, cyst_y, cyst_r = rng.uniform(0.4, 0.6) * s, rng.uniform(0.4, 0.7) * s, rng.uniform(0.04, 0.09) * s
    picture[np.hypot(x - cyst_x, y - cyst_y) < cyst_r] *= 0.1
    overlay = Image.fromarray(np.uint8(255 * picture))
    ImageDraw.Draw(overlay).text((6, 6), "4.0MHz  G 52  D 14cm", fill=230)
    return np.asarray(overlay, np.float64) / 255


def spine_mri(rng: np.random.Generator) -> np.ndarray:
    """Sagittal spine MRI: a column of vertebral bodies with discs, a bright CSF band, soft tissue, on black."""
    canvas = _canvas(0.0)
    draw = ImageDraw.Draw(canvas)
    s = SIZE
    draw.rectangle((0.2 * s, 0, 0.8 * s, s), fill=_grey(rng, 0.3))  # back muscles and fat
    top = rng.uniform(-0.05, 0.03) * s
    height = rng.uniform(0.09, 0.12) * s
    while top < s:
        draw.rounded_rectangle((0.35 * s, top, 0.55 * s, top + height), radius=6, fill=_grey(rng, 0.5))
        draw.rectangle((0.36 * s, top + height, 0.54 * s, top + height + 0.025 * s), fill=_grey(rng, 0.75))
        top += height + 0.03 * s
    draw.rectangle((0.58 * s, 0, 0.64 * s, s), fill=_grey(rng, 0.9))  # CSF around the cord, bright on T2
    draw.rectangle((0.6 * s, 0, 0.62 * s, s), fill=_grey(rng, 0.45))  # the cord
    return _finish(canvas, rng, blur=1.5, noise=0.03)


def knee_mri(rng: np.random.Generator) -> np.ndarray:
    """Sagittal knee MRI: a femur's rounded end over a tibial plateau, bright marrow, patella, muscle."""
    canvas = _canvas(0.0)
    draw = ImageDraw.Draw(canvas)
    s = SIZE
    draw.rounded_rectangle((0.15 * s, 0, 0.85 * s, s), radius=30, fill=_grey(rng, 0.35))  # muscle and fat
    gap = rng.uniform(0.48, 0.54) * s
    draw.rectangle((0.35 * s, 0, 0.65 * s, gap - 0.12 * s), fill=_grey(rng, 0.8))  # the femoral shaft
    draw.ellipse((0.28 * s, gap - 0.25 * s, 0.72 * s, gap), fill=_grey(rng, 0.8))  # the condyle
    draw.rectangle((0.3 * s, gap + 0.03 * s, 0.7 * s, gap + 0.1 * s), fill=_grey(rng, 0.8))  # tibial plateau
    draw.rectangle((0.38 * s, gap + 0.1 * s, 0.62 * s, s), fill=_grey(rng, 0.8))  # the tibial shaft
    draw.arc((0.27 * s, gap - 0.26 * s, 0.73 * s, gap + 0.01 * s), 0, 180, fill=_grey(rng, 0.6), width=4)
    draw.ellipse((0.72 * s, gap - 0.2 * s, 0.82 * s, gap - 0.02 * s), fill=_grey(rng, 0.75))  # the patella
    return _finish(canvas, rng, blur=1.5, noise=0.03)


GENERATORS = {
    "chest radiograph": chest_radiograph,
    "limb radiograph": limb_radiograph,
    "abdominal CT": abdominal_ct,
    "ultrasound": ultrasound,
    "spine MRI": spine_mri,
    "knee MRI": knee_mri,
}


def other_body_parts(rng: np.random.Generator, each: int) -> list[tuple[str, np.ndarray]]:
    """`each` pictures of every kind, named "<kind> <i>", as uint8 grayscale."""
    return [
        (f"{kind} {i}", np.uint8(np.rint(255 * np.clip(make(rng), 0, 1))))
        for kind, make in GENERATORS.items()
        for i in range(each)
    ]


def _canvas(level: float) -> Image.Image:
    return Image.new("F", (SIZE, SIZE), float(level))


def _grey(rng: np.random.Generator, level: float) -> float:
    """A tissue's intensity, varied per picture as exposure and windowing vary."""
    return float(np.clip(level + rng.normal(0, 0.05), 0, 1))


def _finish(canvas: Image.Image, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Blur, a random pose (turned, scaled, shifted as a real acquisition is), then noise."""
    picture = cv2.GaussianBlur(np.asarray(canvas, np.float64), (0, 0), blur)
    pose = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), rng.uniform(-12, 12), rng.uniform(0.85, 1.1))
    pose[:, 2] += rng.uniform(-0.06, 0.06, 2) * SIZE
    border = float(np.median(np.concatenate([picture[0], picture[-1]])))  # the background's own level
    picture = cv2.warpAffine(picture, pose, (SIZE, SIZE), borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return np.clip(picture + rng.normal(0, noise, picture.shape), 0, 1)
