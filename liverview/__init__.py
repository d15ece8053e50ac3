"""LiverView: a workstation for liver lesion labelling, harvest verification and ultrasound AI."""

__version__ = "0.1.0"
