"""Lesion detection results as data (2D boxes, 3D proposals) and the proposals file; no model code here."""
