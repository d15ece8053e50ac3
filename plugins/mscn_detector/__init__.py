"""MSCN-style multi-phase CT lesion detector: 2.5D ResNet backbone, feature pyramid, cross-phase attention,
CenterNet heads, focal loss + hard negative suppression loss (see models/mscn_detector/MODEL_CARD.md)."""
