"""The classical baseline detector finds the phantom's dark lesions (cysts, metastases in portal venous)
through the registry, with the liver mask plugin; it refuses a study without its reference phase."""

from __future__ import annotations

import pytest

from liverview.core.study import PhaseKind
from liverview.plugin_api.errors import ModelInputError
from liverview.plugin_registry import discover_plugins
from liverview.synth.ct_phantom import generate_ct_study

PV = PhaseKind.PORTAL_VENOUS


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_the_baseline_finds_dark_phantom_lesions_and_only_inside_the_liver():
    study = generate_ct_study(3, n_lesions=5, shape=(48, 192, 192), spacing_mm=(1.0, 1.0, 2.5))
    detector = discover_plugins().resolve("detector", "hypodense_blobs").create("cpu")
    result = detector.detect({PV: study.phases[PV]}, PV)
    assert result.proposals and all(0.0 <= p.score <= 1.0 for p in result.proposals)
    dark = [les for les in study.lesions if les.lesion_class in ("cyst", "metastasis") and les.diameter_mm >= 10]
    assert dark
    liver = study.liver_mask.array > 0
    for p in result.proposals:
        x0, y0, x1, y1 = (int(v) for v in p.slice_boxes[p.key_slice])
        assert liver[p.key_slice, y0:y1, x0:x1].any()
    found = 0
    for les in dark:
        x0, y0, z0, x1, y1, z1 = les.box_ijk
        gt = (x0, y0, x1 + 1, y1 + 1)
        found += any(p.z_range[0] <= les.key_slice <= p.z_range[1]
                     and _iou(p.slice_boxes.get(les.key_slice, p.box), gt) >= 0.5 for p in result.proposals)
    assert found >= max(1, len(dark) - 1)


def test_the_baseline_refuses_a_study_without_its_reference_phase():
    study = generate_ct_study(3, n_lesions=1, shape=(24, 128, 128), spacing_mm=(1.5, 1.5, 2.5))
    detector = discover_plugins().resolve("detector", "hypodense_blobs").create("cpu")
    with pytest.raises(ModelInputError):
        detector.detect({PV: study.phases[PV]}, PhaseKind.ARTERIAL)
