"""Lesion proposal classifier (LPC) of the Lesion Harvester: multi-view crops -> probability of a lesion."""
