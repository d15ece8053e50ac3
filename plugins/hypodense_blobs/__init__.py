"""A classical baseline detector: hypodense blobs inside the liver."""
