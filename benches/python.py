"""Speed of the Python module against the original diffimg 0.3.0, in one process.

Run with a Python that has this package installed (`pip install .`), NumPy and Pillow:

    python benches/python.py [SIDE]

It installs diffimg 0.3.0 (with Pillow) into target/bench-data/diffimg-0.3.0 when missing and
imports it beside this module under another name, makes a pair of SIDE x SIDE RGBA noise PNGs
(10000 by default; cached under target/bench-data/), and measures wall times:

- diff(a, b, delete_diff_file=True) and diff(a, b) (which writes diff_img.png) with both
  modules: the original once (it takes tens of seconds), this one the median of 3 runs;
- compare() on the two files, on the same file twice (decoding both, nothing to diff: the
  decoding floor), and on the two images as NumPy arrays (decoded beforehand).
"""

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import diffimg

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "target" / "bench-data"


def original_diffimg():
    """diffimg 0.3.0, imported as `diffimg_original`."""
    target = DATA / "diffimg-0.3.0"
    if not (target / "diffimg" / "diff.py").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
             str(target), "diffimg==0.3.0"],
            check=True,
        )
    init = target / "diffimg" / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        "diffimg_original", init, submodule_search_locations=[str(init.parent)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["diffimg_original"] = module
    spec.loader.exec_module(module)
    return module


def noise_pair(side):
    paths = [DATA / f"python-noise-{side}-{n}.png" for n in (1, 2)]
    for seed, path in enumerate(paths):
        if not path.exists():
            rng = np.random.default_rng(seed)
            pixels = rng.integers(0, 256, (side, side, 4), dtype=np.uint8)
            Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
    return [str(p) for p in paths]


def timed(function, runs):
    """Median and all wall times of `runs` calls, and the last result."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main():
    side = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    DATA.mkdir(parents=True, exist_ok=True)
    original = original_diffimg()
    a, b = noise_pair(side)
    print(f"{side}x{side} RGBA noise pair; this module {diffimg.__version__}, "
          f"diffimg 0.3.0 on Pillow {Image.__version__}")
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        for delete in (True, False):
            label = "delete_diff_file=True" if delete else "writing diff_img.png"
            old, _, old_ratio = timed(lambda: original.diff(a, b, delete_diff_file=delete), 1)
            new, times, new_ratio = timed(lambda: diffimg.diff(a, b, delete_diff_file=delete), 3)
            assert old_ratio == new_ratio, (old_ratio, new_ratio)
            print(f"diff() {label}: diffimg 0.3.0 {old:.2f} s, this module {new:.2f} s "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)}): {old / new:.1f}x faster; "
                  f"same ratio {new_ratio!r}")
    files, _, by_files = timed(lambda: diffimg.compare(a, b), 3)
    floor, _, _ = timed(lambda: diffimg.compare(a, a), 3)
    arrays = [np.asarray(Image.open(p)) for p in (a, b)]
    in_memory, _, by_arrays = timed(lambda: diffimg.compare(*arrays), 3)
    assert by_arrays["sum"] == by_files["sum"]
    print(f"compare(): files {files:.3f} s, decoding floor (a file against itself) {floor:.3f} s, "
          f"files minus floor {files - floor:.3f} s, arrays {in_memory:.3f} s "
          f"(median of 3 each)")


if __name__ == "__main__":
    main()
