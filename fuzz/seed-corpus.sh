#!/bin/sh
# Fills fuzz/corpus/compare with seed inputs made from the test fixtures: each input is the
# length of the first image (2 bytes, little-endian), a flag byte, then both images.
set -eu
cd "$(dirname "$0")/.."
out=fuzz/corpus/compare
mkdir -p "$out"
seed() { # seed NAME FLAGS FIRST SECOND
    n=$(wc -c < "$3")
    [ "$n" -lt 65536 ] || return 0
    printf "\\$(printf %03o $((n % 256)))\\$(printf %03o $((n / 256)))\\$(printf %03o "$2")" > "$out/$1"
    cat "$3" "$4" >> "$out/$1"
}
i=0
for f in tests/fixtures/black.png tests/fixtures/white.png tests/fixtures/bad/*.png \
    tests/fixtures/bad/*.jpg tests/fixtures/bad/base.* tests/fixtures/bad/trunc.*; do
    i=$((i + 1))
    seed "self-$i" $((i % 8)) "$f" "$f"
done
seed black-white 0 tests/fixtures/black.png tests/fixtures/white.png
seed png-jpeg 1 tests/fixtures/bad/base.png tests/fixtures/bad/base.jpg
seed grey-rgb 4 tests/fixtures/bad/grey8.png tests/fixtures/bad/rgb16.png
seed palette-resize 2 tests/fixtures/bad/palette4.png tests/fixtures/bad/base.png
# OpenEXR pairs in several compressions and layouts, written by the float tests.
cargo test -q --test float -- --ignored write_fuzz_seeds >/dev/null
echo "$(ls "$out" | wc -l) inputs in $out"
