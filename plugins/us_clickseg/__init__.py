"""Click-guided joint segmentation + classification of ultrasound lesions (Ryu et al. 2021)."""
