"""How different two images are, per pixel.

A drop-in for the original diffimg (``from diffimg import diff``): the same function, the same
numbers to the last digit, computed by a Rust engine. ``compare()`` returns every figure the
``diffimg`` command's ``--json`` gives, and takes paths, encoded bytes or NumPy arrays.
"""

import json
import os
from typing import Any, BinaryIO, Dict, Optional, Sequence, Tuple, Union

from ._diffimg import DiffimgError, __version__
from ._diffimg import compare_json as _compare_json
from ._diffimg import diff as _diff

__all__ = ["diff", "compare", "DiffimgError", "__version__"]


def diff(
    im1_file: Union[str, "os.PathLike[str]", BinaryIO],
    im2_file: Union[str, "os.PathLike[str]", BinaryIO],
    delete_diff_file: bool = False,
    diff_img_file: Optional[Union[str, "os.PathLike[str]"]] = None,
    ignore_alpha: bool = False,
) -> float:
    """Return the difference ratio of two images, as the original diffimg 0.3.0 does.

    im1_file, im2_file: paths, or binary file objects (read to their end), as Pillow opens.

    The ratio is the mean absolute difference over all pixels and channels, divided by 255:
    0.0 for identical images, 1.0 for opposite ones. If the images differ in size, the second
    is resized to the first one's size first, exactly as Pillow's ``Image.resize`` does.

    delete_diff_file: do not write the diff image (by default it is written).
    diff_img_file: where to write the diff image (default ``diff_img.png``); the format comes
        from the extension (``.jpg``/``.jpeg``: JPEG without alpha; none: PNG).
    ignore_alpha: leave alpha out of the ratio and make the diff image's alpha 255.

    Raises ValueError when the images have different colour modes (RGB and RGBA, say),
    FileNotFoundError for a missing file, TypeError for arguments that are neither paths nor
    file objects, and DiffimgError when a file is not a readable image or the diff image cannot
    be written.
    """
    # diffimg tests these flags for truth, so 0, 1 or None do as well as booleans.
    return _diff(
        im1_file, im2_file, bool(delete_diff_file), diff_img_file or None, bool(ignore_alpha)
    )


def compare(
    a: Any,
    b: Any,
    *,
    ignore_alpha: bool = False,
    resize: bool = False,
    backend: str = "auto",
    diff_image: Optional[Union[str, "os.PathLike[str]"]] = None,
    max_pixels: Optional[int] = None,
    compression: str = "fast",
    threshold: Optional[float] = None,
    aa: bool = False,
    style: str = "raw",
    diff_color: str = "#ff0000",
    ignore: Sequence[Tuple[int, int, int, int]] = (),
    mask: Optional[Union[str, "os.PathLike[str]"]] = None,
    canvas: str = "same",
    gpu_timeout: Optional[float] = None,
    gpu_batch: Optional[int] = None,
    max_ratio: Optional[float] = None,
    max_changed: Optional[Union[int, str]] = None,
    max_diff: Optional[float] = None,
    flip: bool = False,
    ssim: bool = False,
    ppd: Optional[float] = None,
    viewing: Optional[Tuple[float, float, float]] = None,
    exposure: Optional[Tuple[float, float]] = None,
    exposures: Optional[int] = None,
    tonemapper: Optional[str] = None,
    max_flip: Union[None, float, str, Sequence[Union[float, str]]] = None,
    min_ssim: Optional[float] = None,
    flip_map: bool = False,
) -> Dict[str, Any]:
    """Compare two images and return every figure, as a dict.

    a, b: each a path (str or os.PathLike), the bytes of an encoded image (PNG, JPEG, GIF,
        BMP, TIFF, WebP, PNM, QOI), or an array: H x W (grey) or H x W x C (C = 2: grey and
        alpha, 3: RGB, 4: RGBA), dtype uint8, uint16 or float32, any strides. Arrays are read in place,
        never copied whole (two contiguous arrays of one shape and dtype are diffed where they
        lie); do not modify them while the comparison runs.
    ignore_alpha: leave alpha out of the figures; the diff image gets alpha 255.
    resize: resize b to a's size first (as Pillow does) instead of refusing different sizes.
    backend: "auto", "cpu" or "gpu".
    diff_image: also write the diff image (|a - b| per channel) there; format from the
        extension, PNG without one.
    max_pixels: refuse images of more pixels than this.
    compression: PNG compression of the diff image, "fast" or "best".
    threshold: also count the pixels a person would see as changed: YIQ colour delta over
        35215 * threshold**2 (0 to 1; 0.1 when only aa or a style asks for the count).
    aa: count anti-aliased pixels apart, not as changed.
    style: what diff_image shows: "raw" (|a - b|), "highlight", "mask" or "heatmap".
    diff_color: changed pixels in the highlight and mask styles, "#rrggbb".
    ignore: (x, y, width, height) rectangles left out of every figure.
    mask: an image of the same size; its pixels that are not black and not fully
        transparent (alpha 0) are left out.
    canvas: "same" (different sizes are an error) or "union" (compared on a canvas of the
        larger width and height, where a pixel only one image covers is changed and one
        neither covers is not compared).
    gpu_timeout: seconds the GPU may take for one piece of work before it counts as hung
        (backend="auto" then goes on with the CPU); more than 0, 5 by default.
    gpu_batch: MiB of each image the GPU takes in one submission, 1 to 1024 (8 by default).
    max_ratio, max_changed, max_diff: the command line's gates: the ratio, the changed pixels
        (a number, or a percentage such as "0.5%"; turns the changed-pixel count on) and the
        largest counted channel difference, in sample units, each over which the comparison is
        over the gate. With any of them the dict has over_gate: True or False.
    flip: FLIP per pixel (NVIDIA's render metric), pooled: LDR-FLIP on integer images (sRGB),
        HDR-FLIP on float32 ones (linear). ppd, viewing, exposure, exposures, tonemapper,
        max_flip and flip_map turn it on.
    ppd: FLIP's pixels per degree (67.02 by default); or viewing: (distance_m, width_px,
        width_m) of the display.
    exposure: HDR-FLIP's (start, stop) exposures in stops; exposures: how many; both found
        from a's luminance by default, as NVIDIA's tool finds them. tonemapper: "aces"
        (default), "hable" or "reinhard".
    max_flip: a gate on FLIP's mean (a number) or a percentile ("p99=0.2"), or a list of them.
    flip_map: also return the per-pixel FLIP map, as result["flip_map"]: an H x W float32
        NumPy array.
    ssim: SSIM per colour channel (Gaussian window, sigma 1.5), as scikit-image computes it,
        pooled over the pixels whose window lies in the image. min_ssim: a gate on its mean.

    Images of different colour types are compared in the smallest type that holds both.
    The GIL is released while comparing, so threads compare in parallel.

    Returns a dict with:
        ratio: sum |a - b| / (max * channels * pixels), as diffimg computes it;
        percent: 100 * ratio;
        width, height: the size compared;
        channels: channels counted; bit_depth: 8 or 16, or 32 for floating point;
        mean_abs_diff: per counted channel, the mean of |a - b| in sample units;
        sum: the exact integer sum of |a - b| over the counted channels (for floating point,
            a float: the sum in a fixed point of 2^-24);
        differing_pixels: pixels where any counted channel differs;
        max_diff: the largest counted channel difference (finite, for floating point);
        nan, inf: floating point only: counted channels where one image has NaN, and where the
            difference is infinite or 65536 or more, left out of the other figures;
        max_diff_at: {x, y, channel} of its first pixel in row order, or None;
        rms: root mean square difference over the counted channels, in sample units;
        psnr: peak signal-to-noise ratio in dB, or None when nothing differs (infinite);
        bbox: {x, y, width, height} of the differing pixels, or None;
        ignored_pixels: pixels left out by ignore and mask;
        with the changed-pixel count: threshold, changed_pixels, changed_percent,
            aa_pixels (with aa), changed_bbox, and regions ({count, boxes, truncated});
        canvas: with canvas="union" and different sizes, both sizes and the canvas's, and
            uncovered: the pixels neither image covers, which are not compared;
        flip: with FLIP: {mean, min, min_at, max, max_at: {x, y}, percentiles: {"25": v, ...},
            histogram: 100 counts over [0, 1], ppd, dynamic_range: "ldr" | "hdr", and for HDR
            exposures: {start, stop, count} and tonemapper};
        ssim: with SSIM: {mean, channels: [per colour channel], min, min_at: {x, y}};
        engine: {kind: "cpu" | "gpu", adapter, backend, gpu_bands, cpu_bands}, and with
            backend="auto" reason: why it chose that engine;
        elapsed_ms: wall time of the comparison.

    Raises FileNotFoundError (or PermissionError) for a path that cannot be opened,
    ValueError for images of different sizes without resize, and for bad options or arrays,
    TypeError for inputs of another type, and DiffimgError for the rest (an input that is not
    a readable image, a diff image that cannot be written, an image over max_pixels).
    """
    if max_flip is None:
        max_flip = []
    elif isinstance(max_flip, (str, int, float)):
        max_flip = [max_flip]
    figures, over_gate, map_bytes = _compare_json(
        a,
        b,
        ignore_alpha,
        resize,
        backend,
        diff_image,
        max_pixels,
        compression,
        threshold,
        aa,
        style,
        diff_color,
        [tuple(r) for r in ignore],
        mask,
        canvas,
        gpu_timeout,
        gpu_batch,
        max_ratio,
        max_changed,
        max_diff,
        bool(flip),
        bool(ssim),
        ppd,
        None if viewing is None else tuple(viewing),
        None if exposure is None else tuple(exposure),
        exposures,
        tonemapper,
        [str(v) for v in max_flip],
        min_ssim,
        bool(flip_map),
    )
    result: Dict[str, Any] = json.loads(figures)
    if map_bytes is not None:
        import numpy

        shape = (result["height"], result["width"])
        result["flip_map"] = numpy.frombuffer(map_bytes, dtype=numpy.float32).reshape(shape)
    if over_gate is not None:
        result["over_gate"] = over_gate
    return result
