"""The volume of a mask in millilitres, from its voxel count and its voxel size in patient space."""

from __future__ import annotations

import numpy as np

from liverview.core.volume import Volume


def voxel_volume_mm3(volume: Volume) -> float:
    """Size of one voxel in mm³: |det| of the index-to-world matrix, so a flipped or oblique direction
    gives the same size as an identity one (only the spacing matters for a proper direction matrix)."""
    return float(abs(np.linalg.det(volume.index_to_world_matrix[:3, :3])))


def mask_volume_ml(mask: Volume) -> float:
    """Volume of the voxels > 0 of ``mask`` in mL (1 mL = 1000 mm³)."""
    count = int(np.count_nonzero(np.asarray(mask.array)))
    return count * voxel_volume_mm3(mask) / 1000.0


def mask_area_cm2(mask: Volume) -> float:
    """In-plane area of the voxels > 0 of a one-slice ``mask`` in cm² (a volume says little about one slice)."""
    axes = mask.index_to_world_matrix[:3, :3]
    pixel_mm2 = float(np.linalg.norm(np.cross(axes[:, 0], axes[:, 1])))
    return int(np.count_nonzero(np.asarray(mask.array))) * pixel_mm2 / 100.0


def mask_size_text(mask: Volume) -> str:
    """"1834 mL", or for a one-slice mask (a key slice) "207 cm² on its one slice"."""
    if np.asarray(mask.array).shape[0] == 1:
        return f"{mask_area_cm2(mask):.0f} cm² on its one slice"
    return f"{mask_volume_ml(mask):.0f} mL"
