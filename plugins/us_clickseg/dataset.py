"""Training samples for the click network: simulated clicks -> crop -> net input + target mask.

The crop is placed by the same rule as at inference (:func:`.crop.crop_window`) and assembled by the same
function (:func:`.crop.input_from_crop`); with ``augment`` the image may be flipped, the window jittered
(:func:`.augment.jitter_window`) and the crop given ultrasound augmentations (:func:`.augment.augment_crop`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from liverview.us.click_simulation import Interaction, ReaderBox, simulate_interaction
from liverview.us.lesion_dataset import LoadedLesion

from .augment import PixelGrid, augment_crop, jitter_window, lesion_box
from .crop import crop_image, crop_window, input_from_crop, prior_channel

PRIOR_DROPOUT = 0.1


# (image, lesion mask, lesion_distances of the mask, rng) -> the clicks and prior of one sample
InteractionSource = Callable[[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray], np.random.Generator], Interaction]


def training_sample(lesion: LoadedLesion, rng: np.random.Generator, size: int, augment: bool = True,
                    with_prior: bool = False, interaction_source: InteractionSource | None = None,
                    reader: ReaderBox | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(net input [3,S,S], target [S,S] float in 0..1) for one simulated click sequence; [4,S,S] with
    ``with_prior`` (the sequence's starting mask as the 4th channel). ``interaction_source`` replaces the
    simulated clicks (e.g. clicks placed where the network itself was wrong, :mod:`.model_clicks`); ``reader``
    draws the simulated boxes (default: TRAIN_READER).

    Without ``augment`` the input is exactly what :func:`.crop.net_input` gives for the same clicks and prior.
    """
    img, mask, distances = lesion.image, lesion.mask, lesion.distances
    if augment and rng.random() < 0.5:
        img, mask, distances = img[:, ::-1], mask[:, ::-1], lesion.distances_flipped
    if interaction_source is None:
        interaction = simulate_interaction(mask, rng, distances=distances, reader=reader)
    else:
        interaction = interaction_source(img, mask, distances, rng)
    clicks = interaction.clicks
    # now and then no prior at all, as from a caller that passes none after extra clicks
    prior = interaction.prior if with_prior and not (augment and rng.random() < PRIOR_DROPOUT) else None
    window = crop_window(img.shape[:2], clicks, prior)
    if augment:
        window = jitter_window(window, rng)
    crop = crop_image(img, window, size)
    if augment:
        crop = augment_crop(crop, PixelGrid.of_crop(window, size, img.shape[:2]), rng, lesion_box(mask))
    target = crop_image(mask, window, size)
    prior_crop = prior_channel(prior, window, size) if with_prior else None
    return input_from_crop(crop, clicks, window, prior_crop), np.clip(target, 0, 1)
