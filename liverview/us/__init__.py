"""Ultrasound: image loading, click interaction model and mask measurements (no Qt, no torch)."""
