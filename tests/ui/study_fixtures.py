"""Small in-memory studies for UI tests: phases on different grids, like real multi-phase CT."""

import numpy as np

from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume

KINDS = [PhaseKind.NON_CONTRAST, PhaseKind.ARTERIAL, PhaseKind.PORTAL_VENOUS, PhaseKind.DELAYED]


def body_volume(shape_zyx, spacing, origin, hu_offset: int) -> Volume:
    """An ellipse body with a bright ball centred at (-20, 0, 0) mm; voxel values vary with z."""
    vol = Volume(np.zeros(shape_zyx, np.int16), spacing, origin)
    k, j, i = np.indices(shape_zyx)
    ijk = np.stack([i, j, k], axis=-1).reshape(-1, 3)
    xyz = vol.index_to_world(ijk).reshape(*shape_zyx, 3)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    body = (x / 90) ** 2 + (y / 70) ** 2 < 1
    arr = np.where(body, 40 + hu_offset, -1000).astype(np.int16)
    ball = (x + 20) ** 2 + y**2 + z**2 < 15**2
    arr[ball] = 200 + hu_offset
    vol.array = arr
    return vol


def multi_grid_study() -> Study:
    """Four phases; the portal venous phase has another spacing and origin than the others."""
    phases = []
    for n, kind in enumerate(KINDS):
        if kind is PhaseKind.PORTAL_VENOUS:
            vol = body_volume((30, 100, 110), (1.8, 1.6, 2.0), (-99.0, -80.0, -30.0), 30 * n)
        else:
            vol = body_volume((24, 96, 96), (2.0, 2.0, 2.5), (-95.0, -95.0, -28.75), 30 * n)
        phases.append(Phase(kind, vol, description=kind.value))
    return Study(phases, patient_id="TEST")
