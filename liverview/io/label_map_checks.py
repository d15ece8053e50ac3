"""Signs that a label map is not one value per lesion: an organ label around the lesions, or one value for many.

Readers of lesion label maps (eval-detect's ground truth, `import`) take each value as one lesion. Public sets
often ship class maps instead (IRCADb: 1 = liver, 2 = every tumour): read as lesions, the whole liver becomes a
"lesion" and several tumours one. Two checks, pure numpy and scipy, each on the bounding box of one value:
- a value *surrounds* another when most of the other's outer shell (the voxels touching it from outside) carries
  that value: a lesion lies in an organ, not in another lesion;
- a value is *split* when it holds two or more separate regions of some size (26-connected; specks under
  :data:`MIN_REGION_SHARE` of its largest region or :data:`MIN_REGION_VOXELS` are not counted).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SURROUND_SHARE = 0.5  # share of a value's outer shell that another value must cover to surround it
MIN_REGION_VOXELS = 10
MIN_REGION_SHARE = 0.02


def _value_boxes(labels: np.ndarray) -> dict[int, tuple[slice, ...]]:
    """Each value above 0 -> the bounding box of its voxels, found in one pass over the map."""
    labels = np.asarray(labels)
    positive = labels if labels.min(initial=0) >= 0 else np.maximum(labels, 0)
    return {value: box for value, box in enumerate(ndimage.find_objects(positive.astype(np.int64, copy=False)),
                                                   start=1) if box is not None}


def _padded(box: tuple[slice, ...], shape: tuple[int, ...], pad: int = 1) -> tuple[slice, ...]:
    return tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, shape))


def surrounding_labels(labels: np.ndarray) -> dict[int, int]:
    """Value -> the value that surrounds it (see the module's note), for each value that has one."""
    labels = np.asarray(labels)
    out = {}
    for value, box in _value_boxes(labels).items():
        window = labels[_padded(box, labels.shape)]
        inside = window == value
        shell = ndimage.binary_dilation(inside) & ~inside
        around = window[shell]
        around = around[(around > 0) & (around != value)]
        if around.size:
            values, counts = np.unique(around, return_counts=True)
            if counts.max() >= SURROUND_SHARE * shell.sum():
                out[value] = int(values[counts.argmax()])
    return out


def split_labels(labels: np.ndarray) -> dict[int, int]:
    """Value -> its number of separate regions, for each value that holds more than one."""
    labels = np.asarray(labels)
    out = {}
    for value, box in _value_boxes(labels).items():
        regions, n = ndimage.label(labels[box] == value, structure=np.ones((3,) * labels.ndim, bool))
        if n < 2:
            continue
        sizes = np.bincount(regions.ravel())[1:]
        counted = int((sizes >= max(MIN_REGION_VOXELS, MIN_REGION_SHARE * sizes.max())).sum())
        if counted >= 2:
            out[value] = counted
    return out


def class_map_doubts(labels: np.ndarray) -> list[str]:
    """Why ``labels`` looks like a class map rather than one value per lesion; empty when it does not."""
    lines = [f"value {outer} surrounds value {inner}: it looks like an organ (e.g. the liver), not a lesion"
             for inner, outer in sorted(surrounding_labels(labels).items())]
    lines += [f"value {value} holds {n} separate regions: one value per lesion is expected (a class map gives "
              "every tumour the same value)" for value, n in sorted(split_labels(labels).items())]
    return lines
