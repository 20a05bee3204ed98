"""``python -m diffimg IMAGE1 IMAGE2``: the original diffimg's command line and output."""

import argparse
import sys
from typing import List, Optional

from . import diff


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="diffimg",
        description="Generate a diff image from two images and/or find difference percentage",
    )
    parser.add_argument("image1", type=str, help="first image")
    parser.add_argument("image2", type=str, help="second image")
    parser.add_argument(
        "--ratio",
        "-r",
        dest="use_ratio",
        action="store_true",
        help="return a ratio instead of percentage",
    )
    parser.add_argument(
        "--delete",
        "-d",
        dest="delete_diff_file",
        action="store_true",
        help="delete diff image file",
    )
    parser.add_argument(
        "--filename",
        "-f",
        dest="diff_img_file",
        type=str,
        default=None,
        help="filename with valid extension to store diff image (defaults to diff_img.png)",
    )
    parser.add_argument(
        "--ignore-alpha",
        "-ia",
        dest="ignore_alpha",
        action="store_true",
        help="ignore the alpha channel for ratio calculation and diff img creation",
    )
    args = parser.parse_args(argv)
    ratio = diff(
        args.image1,
        args.image2,
        delete_diff_file=args.delete_diff_file,
        diff_img_file=args.diff_img_file,
        ignore_alpha=args.ignore_alpha,
    )
    if args.use_ratio:
        print(ratio)
    else:
        print("Images differ by {}%".format(ratio * 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
