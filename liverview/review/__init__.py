"""Harvest verification without Qt: proposal import, the review queue, RECIST proposed from the image."""
