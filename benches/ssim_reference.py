"""scikit-image's SSIM of two image files decoded by Pillow: the reference the render benchmark
(benches/render.rs) times against `diffimg --ssim`.

    python benches/ssim_reference.py A B

Prints `ssim MEAN` with the mean over the channels, as `diffimg --ssim` reports it.
"""

import sys

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity


def main():
    a, b = (np.asarray(Image.open(path).convert("RGB")) for path in sys.argv[1:3])
    mean = structural_similarity(
        a,
        b,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    print(f"ssim {mean:.12f}")


if __name__ == "__main__":
    main()
