"""A real third-party detector distribution, written into a folder: a package with a ``liverview.plugins``
entry point in its dist-info and weights shipped inside the package. Nothing of it lives in LiverView."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

PACKAGE = "tiny_blob_detector"
CONTRIBUTION = "tiny_blob"

_MODULE = '''
"""Finds bright blobs: voxels above a threshold (read from the shipped weights), one proposal per
connected component. A plugin of its own distribution, found only through its entry point."""

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from liverview.detection.proposals import Proposal3D, ProposalSet
from liverview.plugin_api import Cancelled

HERE = Path(__file__).parent


def manifest():
    return {"name": "tiny_blob_detector", "display_name": "Tiny blob detector", "version": "0.1",
            "description": "third-party test detector",
            "contributes": [{"kind": "detector", "name": "tiny_blob", "title": "Bright blobs",
                             "modalities": ["CT"], "command": "tiny_blob_detector:load",
                             "weights": "threshold.json"}]}


class BlobDetector:
    def __init__(self, threshold):
        self.threshold = threshold
        self.name = f"tiny_blob/threshold={threshold:g}"

    def detect(self, volumes, reference, progress=None, cancelled=None):
        if cancelled is not None and cancelled():
            raise Cancelled("cancelled")
        vol = volumes[reference]
        labels, n = ndimage.label(vol.array > self.threshold)
        found = []
        for k, sl in enumerate(ndimage.find_objects(labels), start=1):
            zs, ys, xs = sl
            found.append(Proposal3D((xs.start, ys.start, xs.stop, ys.stop), (zs.start, zs.stop - 1), 0.9,
                                    (zs.start + zs.stop - 1) // 2, {"cyst": 1.0}))
            if progress:
                progress(k / n)
        return ProposalSet(tuple(found), "", self.name, reference.value, vol.array.shape, vol.spacing,
                           vol.origin, tuple(np.asarray(vol.direction).ravel()))


def load(weights=None, device="auto"):
    if weights is None:
        raise FileNotFoundError("tiny_blob needs its threshold file")
    return BlobDetector(float(json.loads(Path(weights).read_text())["threshold"]))
'''


def write_distribution(site: Path, threshold: float = 100.0) -> Path:
    """Write the package and its dist-info under ``site`` (a folder to put on sys.path); returns site."""
    pkg = site / PACKAGE
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(_MODULE))
    (pkg / "threshold.json").write_text(json.dumps({"threshold": threshold}))
    info = site / f"{PACKAGE}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-blob-detector\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[liverview.plugins]\ntiny_blob_detector = {PACKAGE}:manifest\n")
    (info / "RECORD").write_text("")
    return site
