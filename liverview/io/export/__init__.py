"""File exports other tools read, and their readers: DeepLesion CSV, JSON, NIfTI label maps, DICOM SR and SEG.

Each format lives in its own module; import from there (``liverview.io.export.dicom_sr`` and
``dicom_seg`` import highdicom, which the other formats do not need).
"""
