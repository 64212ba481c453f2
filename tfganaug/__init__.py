"""tfganaug: does adding GAN-made images help my image classifier, and by how much?"""

__version__ = "0.1.0"
