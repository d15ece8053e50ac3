"""The ultrasound workspace: click / box segmentation and classification of a US image or cine."""
