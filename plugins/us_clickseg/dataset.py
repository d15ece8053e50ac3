"""Training samples for the click network: simulated clicks -> crop -> net input + target mask."""

from __future__ import annotations

import numpy as np

from liverview.us.click_simulation import simulate_clicks
from liverview.us.clicks import Click, click_maps
from liverview.us.lesion_dataset import LoadedLesion

from .crop import CropWindow, crop_image, net_input


def training_sample(lesion: LoadedLesion, rng: np.random.Generator, size: int, augment: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(net input [3,S,S], target [S,S] float in 0..1) for one simulated click sequence."""
    img = lesion.image.astype(np.float32)
    mask = lesion.mask
    distances = lesion.distances
    if augment and rng.random() < 0.5:
        img, mask, distances = img[:, ::-1], mask[:, ::-1], lesion.distances_flipped
    clicks = simulate_clicks(mask, rng, distances=distances)
    if augment:  # brightness / contrast / gamma
        img = np.clip(img * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255)
        img = 255.0 * (img / 255.0) ** rng.uniform(0.8, 1.25)
    x, window = net_input(img, clicks, size)
    if augment:  # scale and shift of the crop: robustness to where the user's box lands
        f = rng.uniform(0.9, 1.15)
        side = window.side * f
        dx, dy = rng.normal(0, 0.03 * window.side, 2)
        cx, cy = window.x0 + window.side / 2 + dx, window.y0 + window.side / 2 + dy
        window = CropWindow(cx - side / 2, cy - side / 2, side)
        local = [Click(*window.to_crop(c.x, c.y, size), c.positive) for c in clicks]
        x = np.concatenate([crop_image(img, window, size)[None], click_maps((size, size), local)]) / 255.0
    target = crop_image(mask.astype(np.float32), window, size)
    return x.astype(np.float32), np.clip(target, 0, 1)
