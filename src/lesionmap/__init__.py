"""lesionmap: lesion-level tumour dynamics in metastatic colorectal cancer, re-derived in Python."""

__version__ = "0.1.0"
