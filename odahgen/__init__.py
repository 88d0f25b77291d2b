"""odahgen: ODAH-style synthetic datasets for markerless biomechanics.

This top-level module imports nothing heavy: the Blender worker lives inside the package
(``odahgen/render/blender_worker.py``) and is run by a Python that has only bpy and NumPy.
"""

__version__ = "0.1.0"
