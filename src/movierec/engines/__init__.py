"""Compute engines: ``local`` (NumPy/Numba kernels) and ``spark`` (PySpark, optional)."""
