"""Evaluation metrics (detection FROC / IoU, segmentation, classification); no Qt, no torch."""
