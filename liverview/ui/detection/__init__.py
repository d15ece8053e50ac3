"""Detect lesions from the viewer: the detector plugin run in the background, results stored as proposals."""
