"""CenterNet losses: penalty-reduced focal loss (alpha 2, beta 4) with the hard negative suppression loss
(HNSL, Cai et al. 2020), and masked L1 for width/height and offset at the centre pixels."""

from __future__ import annotations

import torch

ALPHA = 2.0
BETA = 4.0


def hnsl_target(heatmap: torch.Tensor, hard_negative: torch.Tensor | None) -> torch.Tensor:
    """The HNSL ground truth: -Y^n where a hard negative's heatmap Y^n > 0, else Y^p.

    ``hard_negative`` (B, 1 or C, H, W) broadcasts over the class channels: a hard negative is no lesion of
    any class. With beta = 4 the background weight (1 - Y)^beta becomes up to (1 + 1)^4 = 16."""
    if hard_negative is None:
        return heatmap
    return torch.where(hard_negative > 0, -hard_negative.expand_as(heatmap), heatmap)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = ALPHA, beta: float = BETA,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over pixels of the CenterNet focal loss divided by the number of peaks (target == 1, at least 1).

    Positives:  -(1 - p)^alpha log p;  others: -(1 - Y)^beta p^alpha log(1 - p), Y may be negative (HNSL).
    ``weight`` (broadcastable, 0 or 1) leaves pixels out of the loss."""
    logits = logits.float()
    log_p = torch.nn.functional.logsigmoid(logits)
    log_1mp = torch.nn.functional.logsigmoid(-logits)
    p = log_p.exp()
    pos = target.eq(1).float()
    neg = 1.0 - pos
    if weight is not None:
        pos, neg = pos * weight, neg * weight
    pos_loss = -((1 - p) ** alpha) * log_p * pos
    neg_loss = -((1 - target) ** beta) * (p ** alpha) * log_1mp * neg
    n_pos = pos.sum().clamp(min=1.0)
    return (pos_loss.sum() + neg_loss.sum()) / n_pos


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 over the pixels where mask (B, H, W) is 1, averaged over those pixels and both channels."""
    m = mask[:, None].float()
    return (torch.abs(pred.float() - target) * m).sum() / (m.sum() * pred.shape[1]).clamp(min=1.0)


def detection_loss(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                   wh_weight: float = 0.1, offset_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Total loss and its parts; targets from plugins.mscn_detector.targets.build_targets (batched)."""
    gt = hnsl_target(targets["heatmap"], targets.get("hard_negative"))
    weight = None
    if "class_ignore" in targets:  # lesions of unknown class: no class-channel loss around them
        keep = (targets["class_ignore"] <= 0).float()
        n_cls = gt.shape[1] - 1
        weight = torch.cat([keep.expand(-1, n_cls, -1, -1), torch.ones_like(keep)], dim=1)
    if "background_ignore" in targets:  # possible unlabelled lesions: neither taught as lesion nor as background
        keep = ((targets["background_ignore"] <= 0) | gt.eq(1)).float()
        weight = keep if weight is None else weight * keep
    heat = focal_loss(outputs["heatmap"], gt, weight=weight)
    wh = masked_l1(outputs["wh"], targets["wh"], targets["mask"])
    off = masked_l1(outputs["offset"], targets["offset"], targets["mask"])
    return {"loss": heat + wh_weight * wh + offset_weight * off, "heatmap": heat, "wh": wh, "offset": off}
