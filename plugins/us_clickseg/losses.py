"""Losses of the joint model: pixelwise focal loss (segmentation) + alpha-balanced focal loss (class), the
latter 4-class or benign/malignant per sample, as each sample's label allows."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Mean binary focal loss over pixels; ``target`` may be soft (0..1 at resampled boundaries)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    return ((1 - p_t) ** gamma * bce).mean()


def class_focal_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: torch.Tensor,
                     gamma: float = 2.0) -> torch.Tensor:
    """Alpha-balanced multi-class focal loss: -alpha_c (1 - p_c)^gamma log p_c, mean over the batch."""
    logp = F.log_softmax(logits, dim=1).gather(1, labels[:, None])[:, 0]
    return (-alpha.to(logits.device)[labels] * (1 - logp.exp()) ** gamma * logp).mean()


def binary_focal_from_classes(logits: torch.Tensor, malignant: torch.Tensor, malignant_index: list[int],
                              alpha: float, gamma: float = 2.0) -> torch.Tensor:
    """Benign-vs-malignant focal loss on p(malignant) = sum of the malignant classes' softmax.

    Used where only benign/malignant labels exist (BUSI): the 4-class split inside each group is not learnt.
    """
    logp_all = F.log_softmax(logits, dim=1)
    logp_mal = torch.logsumexp(logp_all[:, malignant_index], dim=1)
    benign_index = [i for i in range(logits.shape[1]) if i not in malignant_index]
    logp_ben = torch.logsumexp(logp_all[:, benign_index], dim=1)
    y = malignant.float()
    logp_t = y * logp_mal + (1 - y) * logp_ben
    a_t = y * alpha + (1 - y) * (1 - alpha)
    return (-a_t * (1 - logp_t.exp()) ** gamma * logp_t).mean()


def mixed_label_class_loss(logits: torch.Tensor, cls: torch.Tensor, malignant: torch.Tensor, alpha: torch.Tensor,
                           malignant_index: list[int], malignant_alpha: float, gamma: float = 2.0) -> torch.Tensor:
    """Per-sample class loss averaged over the batch: :func:`class_focal_loss` where ``cls`` >= 0 (a 4-class
    label), else :func:`binary_focal_from_classes` (only benign/malignant known). A batch of one kind gives
    exactly that kind's loss."""
    four = cls >= 0
    n, n_four = cls.shape[0], int(four.sum())
    loss = logits.new_zeros(())
    if n_four:
        loss = loss + class_focal_loss(logits[four], cls[four], alpha, gamma) * (n_four / n)
    if n_four < n:
        rest = ~four
        loss = loss + binary_focal_from_classes(logits[rest], malignant[rest], malignant_index, malignant_alpha,
                                                gamma) * ((n - n_four) / n)
    return loss
