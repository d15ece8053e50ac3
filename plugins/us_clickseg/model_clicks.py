"""Clicks where the network itself is wrong (RITM's iterative training), for a prior-channel net.

A sample starts like a reader (a box, or one click inside), then the current network predicts, the next
click goes to the deepest point of its larger error region (the very rule of the NoC evaluation,
liverview.metrics.refinement.next_click), and its mask becomes the prior of the next round; after 1 to
``max_rounds`` rounds the sample is the last clicks with the last mask as prior. Simulated wrong masks
(liverview.us.click_simulation) teach a net to correct mistakes of some shape; these teach it to correct
its own.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from liverview.metrics.refinement import next_click
from liverview.us.click_simulation import Interaction, ReaderBox, simulate_interaction

from .crop import net_input, paste_back

MAX_ROUNDS = 3


def crop_predictor(net: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """(C, S, S) net input -> (S, S) lesion probability, the net in eval mode without gradients (the
    caller's train/eval mode is restored)."""

    def predict(x: np.ndarray) -> np.ndarray:
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                device = next(net.parameters()).device
                seg, _ = net(torch.from_numpy(x)[None].to(device))
                return torch.sigmoid(seg[0, 0]).float().cpu().numpy()
        finally:
            net.train(was_training)

    return predict


def model_driven_interaction(predict_crop: Callable[[np.ndarray], np.ndarray], size: int, image: np.ndarray,
                             mask: np.ndarray, distances: tuple[np.ndarray, np.ndarray], rng: np.random.Generator,
                             max_rounds: int = MAX_ROUNDS, reader: ReaderBox | None = None) -> Interaction:
    start = simulate_interaction(mask, rng, mode="box" if rng.random() < 0.5 else "one", distances=distances,
                                 reader=reader)
    clicks, prior = list(start.clicks), start.prior
    truth = np.asarray(mask, bool)
    for _ in range(int(rng.integers(1, max_rounds + 1))):
        x, window = net_input(image, clicks, size, prior, with_prior=True)
        predicted = paste_back(predict_crop(x), window, truth.shape) > 0.5
        click = next_click(predicted, truth)
        if click is None:  # already perfect: nothing left to correct
            break
        clicks.append(click)
        prior = predicted
    return Interaction(clicks, prior)
