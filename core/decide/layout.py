"""Whether a picture holds several slices side by side (a montage, or a screenshot of a viewer's grid).

The model answers for one slice; given a sheet of four, it gives one confident class for all of them
("no tumour 97.9 %" on a sheet with three tumours). A slice on its dark background is one bright region
(the skull encloses the brain, so their outlines overlap); a montage is several bright regions of similar
size whose outlines are apart. Measured on the public dataset (all 1,311 test images and a quarter of the
training images, 2,739 in all): every one is one region; 2×1, 3×1 and 2×2 sheets of them are 2, 3 and 4.
"""

from __future__ import annotations

import cv2
import numpy as np

_WORK_SIDE = 128  # the picture is looked at this small: the layout, not the detail
# A region counts when its outline covers this much of the picture and at least a third of the largest
# one's: an eye, a label or a ruler on the sheet does not make a montage.
_MIN_OUTLINE_FRACTION = 0.06
_MIN_OUTLINE_OF_LARGEST = 1 / 3
_MIN_REGION_FRACTION = 0.02  # smaller bright specks (text, noise) are not regions at all


def count_slices(gray: np.ndarray) -> int:
    """How many slice-sized bright regions with separate outlines a float (H, W) picture in [0, 1] holds."""
    outlines = _merge_overlapping(_bright_region_outlines(gray))
    areas = sorted(((right - left) * (bottom - top) for left, top, right, bottom in outlines), reverse=True)
    if not areas:
        return 0
    least = max(_MIN_OUTLINE_FRACTION * _WORK_SIDE**2, areas[0] * _MIN_OUTLINE_OF_LARGEST)
    return sum(area >= least for area in areas)


def _bright_region_outlines(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (left, top, right, bottom) of the regions brighter than Otsu's threshold."""
    small = cv2.resize(
        np.clip(gray, 0.0, 1.0).astype(np.float32), (_WORK_SIDE, _WORK_SIDE), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (3, 3), 0)
    _, mask = cv2.threshold((small * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    return [
        (int(x), int(y), int(x + width), int(y + height))
        for x, y, width, height, area in stats[1:count]
        if area >= _MIN_REGION_FRACTION * _WORK_SIDE**2
    ]


def _merge_overlapping(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Boxes that overlap (the skull's ring and the brain inside it) become one, until none overlap."""
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(boxes):
            for j in range(i + 1, len(boxes)):
                b = boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes
