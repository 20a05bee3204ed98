"""Writes magma.rgb: matplotlib's 256-entry magma colour map as 8-bit RGB (each component
rounded to the nearest of 255 levels), the table FLIP's reference tool draws its error maps with.
Run with matplotlib installed: python3 make_magma.py"""
import pathlib

import matplotlib

colours = matplotlib.colormaps["magma"].colors
assert len(colours) == 256
data = bytes(int(c * 255 + 0.5) for rgb in colours for c in rgb)
pathlib.Path(__file__).with_name("magma.rgb").write_bytes(data)
