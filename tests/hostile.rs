//! Hostile and unusual input: damaged, truncated and forged images, images at the edges of
//! what PNG allows, odd input paths, and diff image paths that cannot or must not be written.
//! Every case ends in a correct result, or in exit status 2 with one `error:` line naming the
//! file; never in a panic, a partial diff image, or a changed input.
//!
//! The files in tests/fixtures/bad/ are made by tests/fixtures/bad/generate.rs (README.md
//! there lists them); the large ones are made here, at run time.

mod common;
#[path = "fixtures/bad/generate.rs"]
mod generate;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{
    assert_error, diffimg, diffimg_bounded, diffimg_with_rss, files_in, fixture, stderr, stdout,
    write_png,
};
use diffimg::{Backend, Layout, Options, PixelLimits, Samples};
use image::DynamicImage;

fn bad(name: &str) -> PathBuf {
    fixture("bad").join(name)
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A file's bytes, or `None` for what is not a readable regular file (such as /dev/zero,
/// which never ends).
fn bytes(path: &Path) -> Option<Vec<u8>> {
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    regular.then(|| std::fs::read(path).ok()).flatten()
}

/// Runs diffimg on `a` and `b` with a diff image asked for in a fresh folder, and checks that
/// the run failed as bad input should: exit 2, one `error:` line that mentions `mentions`, no
/// file left in that folder, and both inputs as they were. Returns stderr.
fn assert_refused(a: &Path, b: &Path, extra: &[&str], mentions: &str) -> String {
    let before = [bytes(a), bytes(b)];
    let dir = tempfile::tempdir().unwrap();
    let diff = dir.path().join("diff.png");
    let mut args = vec![a.as_os_str(), b.as_os_str(), os("-f"), diff.as_os_str()];
    args.extend(extra.iter().map(|s| os(s)));
    let out = diffimg(&args);
    assert_error(&out, mentions);
    assert_eq!(
        files_in(dir.path()),
        Vec::<String>::new(),
        "nothing written"
    );
    assert!([bytes(a), bytes(b)] == before, "inputs unchanged");
    stderr(&out)
}

/// Runs diffimg and returns its output as JSON, asserting it succeeded.
fn json(args: &[&OsStr]) -> serde_json::Value {
    let out = diffimg(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// An all-black grey 8-bit PNG of `width` x `height` in `dir`.
fn black(dir: &Path, width: u32, height: u32) -> PathBuf {
    let path = dir.join(format!("black-{width}x{height}.png"));
    let layout = Layout::L8;
    let samples = Samples::U8(vec![0; width as usize * height as usize]);
    write_png(&path, width, height, layout, &samples);
    path
}

/// The image crate's decode of `path`, the format found from its content or else its name.
fn decode_independently(path: &Path) -> DynamicImage {
    image::ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sum diffimg reports for `image` against an all-black grey image: black is promoted to
/// `image`'s layout (colour 0, alpha opaque), so the sum is every colour sample plus every
/// alpha's distance from opaque.
fn sum_against_black(image: &DynamicImage) -> u64 {
    let colour = image.color();
    let channels = usize::from(colour.channel_count());
    let sixteen = colour.bytes_per_pixel() as usize > channels;
    let samples: Vec<u64> = if sixteen {
        let raw = image.as_bytes().chunks_exact(2);
        raw.map(|b| u64::from(u16::from_ne_bytes([b[0], b[1]])))
            .collect()
    } else {
        image.as_bytes().iter().map(|&b| u64::from(b)).collect()
    };
    let max = if sixteen { 65535 } else { 255 };
    samples
        .chunks_exact(channels)
        .map(|pixel| match colour.has_alpha() {
            true => pixel[..channels - 1].iter().sum::<u64>() + max - pixel[channels - 1],
            false => pixel.iter().sum(),
        })
        .sum()
}

/// Checks that diffimg reads `path` exactly as the image crate does: no difference from the
/// image crate's decode stored as RGBA 16-bit, and the expected sum against black.
fn assert_decodes_like_the_image_crate(path: &Path) {
    assert_decodes_as(path, decode_independently(path));
}

/// Checks that diffimg reads `path` as `image`: no difference from it stored as RGBA 16-bit,
/// the expected sum against black, and `image`'s channels and depth.
fn assert_decodes_as(path: &Path, image: DynamicImage) {
    let (width, height) = (image.width(), image.height());
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.png");
    let rgba = Samples::U16(image.to_rgba16().into_raw());
    write_png(&reference, width, height, Layout::RGBA16, &rgba);
    let name = path.display();
    let cpu = [os("--json"), os("--backend"), os("cpu")];
    let same = json(&[&[path.as_os_str(), reference.as_os_str()], &cpu[..]].concat());
    assert_eq!(same["width"], width, "{name}");
    assert_eq!(same["height"], height, "{name}");
    assert_eq!(
        same["sum"], 0,
        "{name} differs from the image crate's decode"
    );
    let black = black(dir.path(), width, height);
    let against_black = json(&[&[path.as_os_str(), black.as_os_str()], &cpu[..]].concat());
    assert_eq!(against_black["sum"], sum_against_black(&image), "{name}");
    let itself = json(&[&[path.as_os_str(), path.as_os_str()], &cpu[..]].concat());
    assert_eq!(itself["ratio"], 0.0, "{name}");
    let colour = image.color();
    assert_eq!(itself["channels"], colour.channel_count(), "{name}");
    let bits = 8 * colour.bytes_per_pixel() / colour.channel_count();
    assert_eq!(itself["bit_depth"], bits, "{name}");
}

#[test]
#[ignore = "writes tests/fixtures/bad/; run by hand after changing generate.rs"]
fn write_bad_fixtures() {
    generate::write_all(&fixture("bad"));
}

#[test]
fn fixtures_are_what_generate_rs_makes() {
    for (name, made) in generate::fixtures() {
        assert!(
            bytes(&bad(name)) == Some(made),
            "{name}: run write_bad_fixtures"
        );
    }
}

/// Valid images in every PNG colour type, bit depth and interlacing, and in the other input
/// formats: each read exactly as the image crate reads it.
mod valid {
    use super::*;

    #[test]
    fn png_colour_types_depths_and_interlacing() {
        for name in [
            "base.png",
            "grey1.png",
            "grey2.png",
            "grey4.png",
            "grey8.png",
            "grey16.png",
            "grey-alpha8.png",
            "grey-alpha16.png",
            "rgb16.png",
            "rgba8.png",
            "rgba16.png",
            "palette1.png",
            "palette4.png",
            "palette8.png",
            "palette8-trns.png",
            "palette2-trns.png",
            "grey1-adam7.png",
            "grey2-adam7.png",
            "grey4-adam7.png",
            "grey-alpha8-adam7.png",
            "rgb8-adam7.png",
            "rgba16-adam7.png",
            "palette4-trns-adam7.png",
        ] {
            assert_decodes_like_the_image_crate(&bad(name));
        }
    }

    /// Grey and RGB with a `tRNS` colour key stay grey and RGB, as Pillow reads them: the
    /// image crate's colours, without the alpha it adds.
    #[test]
    fn colour_keys_keep_their_type() {
        let grey = decode_independently(&bad("grey8-trns.png")).to_luma8();
        assert_decodes_as(&bad("grey8-trns.png"), grey.into());
        let rgb = decode_independently(&bad("rgb16-trns.png")).to_rgb16();
        assert_decodes_as(&bad("rgb16-trns.png"), rgb.into());
    }

    #[test]
    fn smallest_images() {
        for name in [
            "one-pixel.png",
            "one-pixel-adam7.png",
            "one-by-nine-adam7.png",
            "nine-by-one-adam7.png",
        ] {
            assert_decodes_like_the_image_crate(&bad(name));
        }
    }

    /// JPEG is not here: it is decoded as Pillow decodes it (tests/jpeg.rs), which the image
    /// crate's decoder does not. A GIF without transparent pixels is RGB.
    #[test]
    fn other_formats() {
        let gif = decode_independently(&bad("base.gif")).to_rgb8();
        assert_decodes_as(&bad("base.gif"), gif.into());
        for name in [
            "base.bmp",
            "base.tiff",
            "base.webp",
            "base.qoi",
            "base.pnm",
            "base.tga",
        ] {
            assert_decodes_like_the_image_crate(&bad(name));
        }
    }

    #[test]
    fn format_comes_from_content_not_name() {
        assert_decodes_like_the_image_crate(&bad("png-named.jpg"));
        let out = diffimg([bad("png-named.jpg"), bad("base.png")]);
        assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    }

    /// Damage that leaves every pixel intact, read as the image crate reads it: an Adler-32
    /// checksum that does not match (neither decoder checks it), and palette indices past the
    /// palette's end (black, in both decoders).
    #[test]
    fn harmless_damage_is_read_like_the_image_crate() {
        for name in ["bad-adler32.png", "palette-index-out-of-range.png"] {
            assert_decodes_like_the_image_crate(&bad(name));
        }
        let out = diffimg([bad("bad-adler32.png"), bad("base.png")]);
        assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    }

    /// Sums worked out from the samples written, not from any decoder: low bit depths scale
    /// to 8 bits (a 2-bit 3 is 255), palette entries expand to their colour, and tRNS gives
    /// palette entries their alpha (255 past its end).
    #[test]
    fn low_bit_depth_and_palette_sums_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = fastrand::Rng::with_seed(3);
        for bits in [1u8, 2, 4] {
            for interlaced in [false, true] {
                let mut png = generate::Png::random(&mut rng, 11, 7, generate::GREY, bits);
                png.interlaced = interlaced;
                let path = dir.path().join(format!("grey{bits}-{interlaced}.png"));
                std::fs::write(&path, png.encode()).unwrap();
                let scale = 255 / ((1u64 << bits) - 1);
                let expected: u64 = png.samples.iter().map(|&s| u64::from(s) * scale).sum();
                let black = black(dir.path(), 11, 7);
                let out = json(&[path.as_os_str(), black.as_os_str(), os("--json")]);
                assert_eq!(out["sum"], expected, "{bits} bits, interlaced {interlaced}");
            }
        }
        let trns = [0u8, 100, 200];
        let png = generate::Png::random(&mut rng, 9, 6, generate::PALETTE, 4).with_trns(&trns);
        let path = dir.path().join("palette.png");
        std::fs::write(&path, png.encode()).unwrap();
        let palette = png.palette.as_ref().unwrap();
        let expected: u64 = png
            .samples
            .iter()
            .map(|&i| {
                let rgb: u64 = palette[usize::from(i)].iter().map(|&c| u64::from(c)).sum();
                let alpha = trns.get(usize::from(i)).copied().unwrap_or(255);
                rgb + 255 - u64::from(alpha)
            })
            .sum();
        let black = black(dir.path(), 9, 6);
        let out = json(&[path.as_os_str(), black.as_os_str(), os("--json")]);
        assert_eq!(out["channels"], 4);
        assert_eq!(out["sum"], expected);
    }

    /// One pixel wide and one pixel high, longer than a band (2^17 pixels): a band of a
    /// single row, and a row of one pixel repeated in many bands.
    #[test]
    fn one_pixel_wide_and_one_pixel_high() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = fastrand::Rng::with_seed(5);
        let n = 600_000;
        let mut a = vec![0; n * 3];
        rng.fill(&mut a);
        let mut b = a.clone();
        for _ in 0..n / 4 {
            b[rng.usize(..n * 3)] = rng.u8(..);
        }
        let expected: u64 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        for (width, height) in [(1, n as u32), (n as u32, 1)] {
            let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
            std::fs::write(&pa, generate::plain_rgb_png(width, height, &a)).unwrap();
            std::fs::write(&pb, generate::plain_rgb_png(width, height, &b)).unwrap();
            let out = json(&[pa.as_os_str(), pb.as_os_str(), os("--json")]);
            assert_eq!(out["width"], width);
            assert_eq!(out["sum"], expected, "{width}x{height}");
        }
    }
}

/// Damaged files: each refused with an error naming it, in either position, with a diff image
/// asked for and nothing written. The cause is checked where the message is diffimg's own;
/// decoders' messages are only checked not to be some other error (such as a size mismatch).
mod damaged {
    use super::*;

    /// (file, a healthy file of the same size, words the error must contain)
    const CASES: &[(&str, &str, &str)] = &[
        ("empty.png", "base.png", "not an image"),
        ("random.png", "base.png", "not an image"),
        ("random-after-signature.png", "base.png", ""),
        ("trunc-signature.png", "base.png", "not an image"),
        ("trunc-ihdr.png", "base.png", ""),
        ("trunc-after-ihdr.png", "base.png", ""),
        ("trunc-idat.png", "base.png", "truncated"),
        ("trunc-before-iend.png", "base.png", "truncated"),
        ("trunc-idat-adam7.png", "base.png", ""),
        ("trunc-before-iend-adam7.png", "base.png", ""),
        ("trunc-soi.jpg", "base.jpg", "truncated"),
        ("trunc-header.jpg", "base.jpg", "truncated"),
        ("trunc-before-scan.jpg", "base.jpg", "truncated"),
        ("trunc-scan.jpg", "base.jpg", "truncated"),
        ("trunc-before-eoi.jpg", "base.jpg", "truncated"),
        ("bad-crc-ihdr.png", "base.png", "CRC"),
        ("bad-crc-idat.png", "base.png", "CRC"),
        ("bad-zlib-header.png", "base.png", "row 0"),
        ("bad-zlib-block.png", "base.png", "row 0"),
        ("zlib-short.png", "base.png", "row 2"),
        ("bad-filter-type.png", "base.png", "row 0"),
        ("no-idat.png", "base.png", ""),
        ("no-ihdr.png", "base.png", ""),
        ("bad-bit-depth.png", "base.png", ""),
        ("bad-colour-type.png", "base.png", ""),
        ("palette-missing.png", "grey8.png", "row 0"),
        ("palette-ragged.png", "grey8.png", "PLTE chunk of 7 bytes"),
        ("chunk-length-huge.png", "base.png", ""),
        ("zero-width.png", "base.png", ""),
        ("zero-height.png", "base.png", ""),
        ("zero-height.jpg", "base.jpg", ""),
        ("trunc.bmp", "base.bmp", ""),
        ("trunc.gif", "base.gif", ""),
        ("trunc.tiff", "base.tiff", ""),
        ("trunc.webp", "base.webp", ""),
        ("trunc.qoi", "base.qoi", ""),
        ("trunc.pnm", "base.pnm", ""),
        ("trunc.tga", "base.tga", ""),
    ];

    fn check(cases: &[(&str, &str, &str)]) {
        for &(name, partner, cause) in cases {
            let (file, partner) = (bad(name), bad(partner));
            for (a, b) in [(&file, &partner), (&partner, &file)] {
                let err = assert_refused(a, b, &[], name);
                assert!(err.contains(cause), "{name}: {err:?} should say {cause:?}");
                assert!(!err.contains("differ in size"), "{name}: {err}");
            }
        }
    }

    #[test]
    fn truncated_and_not_images() {
        check(&CASES[..15]);
    }

    #[test]
    fn broken_chunks_headers_and_other_formats() {
        check(&CASES[15..]);
    }

    /// The tiff crate (0.11.3) prints a `dbg!` line of its own to stderr before the error for
    /// an oversized string tag: the one stray line diffimg cannot keep off stderr. The error
    /// itself is as for any damaged file.
    #[test]
    fn tiff_with_a_4_gib_string_tag() {
        let file = bad("tiff-ascii-count.tiff");
        let out = diffimg([file.clone(), bad("base.png")]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let mut lines: Vec<&str> = err.lines().collect();
        lines.retain(|line| !(line.contains("tiff-") && line.contains("LimitsExceeded")));
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains("tiff-ascii-count.tiff"));
    }

    /// The library: every fixture against a healthy image, in memory, gives a report or an
    /// error naming "image 1" or "image 2", and never panics.
    #[test]
    fn compare_bytes_never_panics() {
        let options = Options {
            backend: Backend::Cpu,
            max_pixels: PixelLimits::all(1 << 22),
            ..Default::default()
        };
        let base = bytes(&bad("base.png")).unwrap();
        for (name, file) in generate::fixtures() {
            for (a, b) in [(&file, &base), (&base, &file)] {
                match diffimg::compare_bytes(a, b, &options) {
                    Ok(report) => assert!(report.ratio() <= 1.0, "{name}"),
                    Err(e) => {
                        let e = e.to_string();
                        assert!(
                            e.contains("image 1") || e.contains("image 2"),
                            "{name}: {e}"
                        );
                    }
                }
            }
        }
    }

    /// Inputs the fuzzer found (tests/fixtures/bad/fuzz-*), replayed as the fuzz target runs
    /// them: the first two bytes give the first image's length, the third the options.
    #[test]
    fn fuzz_findings_replay() {
        let mut found = 0;
        for entry in std::fs::read_dir(fixture("bad")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with("fuzz-") {
                continue;
            }
            found += 1;
            let data = bytes(&path).unwrap();
            let (head, rest) = data.split_at(3);
            let first = usize::from(u16::from_le_bytes([head[0], head[1]])).min(rest.len());
            let (a, b) = rest.split_at(first);
            let options = Options {
                backend: Backend::Cpu,
                max_pixels: PixelLimits::all(1 << 22),
                ignore_alpha: head[2] & 1 != 0,
                resize: head[2] & 2 != 0,
                band_pixels: if head[2] & 4 != 0 { 64 } else { 1 << 19 },
                ..Default::default()
            };
            if let Ok(report) = diffimg::compare_bytes(a, b, &options) {
                assert!((0.0..=1.0).contains(&report.ratio()), "{name}");
            }
        }
        assert!(
            found > 0,
            "the fuzz findings are kept in tests/fixtures/bad/"
        );
    }
}

/// Headers that claim far more pixels than the file holds: refused by the pixel limit before
/// anything is allocated, or failing on the first row, in a few megabytes of memory.
mod forged_sizes {
    use super::*;

    /// Peak memory allowed for a run that refuses a forged header (the binary alone, in a
    /// debug build, takes about 12 MiB).
    const SMALL: u64 = 64 << 20;

    /// Compares `name` with itself, so that a header within the limits gets as far as its
    /// rows (a healthy partner would differ in size).
    fn assert_refused_in_little_memory(name: &str, cause: &str) {
        let file = bad(name);
        let (out, rss) = diffimg_with_rss(&[file.as_os_str(), file.as_os_str()]);
        assert_error(&out, name);
        assert!(stderr(&out).contains(cause), "{name}: {}", stderr(&out));
        assert!(rss < SMALL, "{name}: peak memory {rss} bytes");
    }

    #[test]
    fn over_the_limit_are_refused() {
        // 10^12 pixels, over the 2^32 limit for PNG read row by row.
        assert_refused_in_little_memory("huge.png", "exceeds the limit of 4294967296 pixels");
        // 3.6 * 10^9 pixels, interlaced: under the PNG limit, over the 2^28 for whole images.
        assert_refused_in_little_memory("huge-adam7.png", "exceeds the limit of 268435456");
        // Its scan data is checked first, and is far too short for 20000x20000.
        assert_refused_in_little_memory("huge.jpg", "scan data too short");
        assert_refused_in_little_memory("huge.gif", "exceeds the limit of 268435456");
        assert_refused_in_little_memory("huge.bmp", "exceeds the limit of 268435456");
    }

    /// A GIF frame larger than its screen is a buffer of its own, held to the image crate's
    /// allocation limit (it asked for 16 GiB before; found by the fuzzer).
    #[test]
    fn gif_frame_larger_than_its_screen() {
        assert_refused_in_little_memory("gif-frame-huge.gif", "");
    }

    #[test]
    fn within_the_limit_fail_on_the_first_row() {
        // 60000x60000 RGBA 16-bit, 3.6 * 10^9 pixels, with 64 bytes of image data.
        assert_refused_in_little_memory("big-empty.png", "row 0");
        // A row of 2^31 - 1 pixels (16 GiB at RGBA 16-bit): the PNG decoder's own limit.
        assert_refused_in_little_memory("wide.png", "");
        // A chunk that claims nearly 2 GiB in a file of a few hundred bytes.
        assert_refused_in_little_memory("chunk-length-huge.png", "");
        // A complete 1 KiB JPEG whose header claims 16384x16384 (2^28 pixels, just within
        // the limit): the decoder would fill out 1.5 GiB of grey and compare it.
        assert_refused_in_little_memory("forged-size.jpg", "scan data too short");
    }

    /// An OpenEXR file whose data window claims 100000x100000 pixels (its chunk count made to
    /// agree): refused by the pixel limit before its offset tables are read. The file is a
    /// grey diff image that diffimg writes (ZIP blocks of 16 lines), so that nothing in this
    /// process grows the memory its children start with.
    #[test]
    fn exr_data_window_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        write_png(&a, 8, 8, Layout::L8, &Samples::U8(vec![0; 64]));
        write_png(&b, 8, 8, Layout::L8, &Samples::U8(vec![9; 64]));
        let path = dir.path().join("small.exr");
        assert_eq!(
            diffimg([&a, &b, &PathBuf::from("-f"), &path]).status.code(),
            Some(0)
        );
        let mut bytes = std::fs::read(&path).unwrap();
        let mut patch = |key: &[u8], offset: usize, value: i32| {
            let found = bytes.windows(key.len()).position(|w| w == key);
            if let Some(at) = found.map(|at| at + key.len() + 4) {
                bytes[at + offset..at + offset + 4].copy_from_slice(&value.to_le_bytes());
            }
            found.is_some()
        };
        assert!(patch(b"dataWindow\0box2i\0", 8, 99_999));
        assert!(patch(b"dataWindow\0box2i\0", 12, 99_999));
        patch(b"chunkCount\0int\0", 0, 6250);
        let forged = dir.path().join("huge.exr");
        std::fs::write(&forged, &bytes).unwrap();
        let (out, rss) = diffimg_with_rss(&[forged.as_os_str(), forged.as_os_str()]);
        assert_error(&out, "huge.exr");
        let err = stderr(&out);
        assert!(
            err.contains("100000x100000 pixels exceeds the limit"),
            "{err}"
        );
        assert!(rss < SMALL, "peak memory {rss} bytes");
    }

    /// Two tiny PNGs that claim 16x65535 and 65535x16 pixels: a resize that went through an
    /// image of the second one's width by the first one's height would make it 64 GiB (found
    /// by the fuzzer). `--resize` holds only the second image and its rows at the new width,
    /// so the run gets as far as the missing image data, in little memory.
    #[test]
    fn resize_holds_no_intermediate_of_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let (tall, wide) = (dir.path().join("tall.png"), dir.path().join("wide.png"));
        let png = |w, h| generate::header_only_png(w, h, generate::RGB, 8, false);
        std::fs::write(&tall, png(16, 65535)).unwrap();
        std::fs::write(&wide, png(65535, 16)).unwrap();
        let (out, rss) = diffimg_with_rss(&[tall.as_os_str(), wide.as_os_str(), os("--resize")]);
        assert_error(&out, "wide.png: row 0");
        assert!(rss < SMALL, "peak memory {rss} bytes");
    }

    #[test]
    fn max_pixels_is_the_limit() {
        // base.png is 16x12: 192 pixels.
        let (png, jpeg) = (bad("base.png"), bad("base.jpg"));
        let err = assert_refused(&png, &jpeg, &["--max-pixels", "191"], "base.png");
        assert!(err.contains("16x12") && err.contains("191 pixels"), "{err}");
        let err = assert_refused(&jpeg, &png, &["--max-pixels", "191"], "base.jpg");
        assert!(err.contains("--max-pixels"), "{err}");
        let out = diffimg([
            png.as_os_str(),
            jpeg.as_os_str(),
            os("--max-pixels"),
            os("192"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
}

/// Input paths that are not image files.
mod input_paths {
    use super::*;

    #[test]
    fn missing_directory_and_not_a_directory() {
        let base = bad("base.png");
        assert_refused(&bad("missing.png"), &base, &[], "missing.png");
        assert_refused(&base, &fixture("bad"), &[], "directory");
        // Root ignores permissions, so an unreadable file is made with a path through a
        // regular file, which fails to open with ENOTDIR.
        let through_file = base.join("x.png");
        assert_refused(&through_file, &base, &[], "base.png/x.png");
    }

    #[test]
    fn symlink_loop_and_symlink_to_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let looping = dir.path().join("loop.png");
        std::os::unix::fs::symlink(&looping, &looping).unwrap();
        assert_refused(&looping, &bad("base.png"), &[], "loop.png");
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(bad("base.png"), &link).unwrap();
        let out = diffimg([link, bad("base.png")]);
        assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    }

    #[test]
    fn devices() {
        let base = bad("base.png");
        assert_refused(
            Path::new("/dev/null"),
            &base,
            &[],
            "/dev/null: is not a regular file",
        );
        assert_refused(
            Path::new("/dev/zero"),
            &base,
            &[],
            "/dev/zero: is not a regular file",
        );
    }

    /// Makes a named pipe at `path`.
    fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    }

    /// The JSON line of batch output `out` for the pair named `name`.
    fn record(out: &Output, name: &str) -> serde_json::Value {
        stdout(out)
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .find(|record| record["name"] == name)
            .unwrap_or_else(|| panic!("no record of {name}: {}", stdout(out)))
    }

    /// A named pipe, which nothing writes, is refused before it is opened (opening it would
    /// wait for a writer for ever): as either image, with a diff image to replace, as a mask,
    /// and in batch mode from a
    /// folder or a pair list, where it is an error record. A run that hangs is killed after a
    /// minute and fails.
    #[test]
    fn named_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.png");
        mkfifo(&fifo);
        let base = bad("base.png");
        let (base, pipe) = (base.as_os_str(), fifo.as_os_str());
        let cause = "pipe.png: is not a regular file";
        // An existing diff image, which is checked not to be an input.
        let diff = dir.path().join("diff.png");
        std::fs::copy(base, &diff).unwrap();
        let replace = [base, pipe, os("-f"), diff.as_os_str()];
        let mask = [base, base, os("--mask"), pipe];
        for args in [[pipe, base].as_slice(), &[base, pipe], &replace, &mask] {
            assert_error(&diffimg_bounded(args, 4 << 30, 60), cause);
        }
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::copy(base, a.join("x.png")).unwrap();
        mkfifo(&b.join("x.png"));
        let out = diffimg_bounded(&[a.as_os_str(), b.as_os_str()], 4 << 30, 60);
        let x = record(&out, "x.png");
        assert_eq!(x["status"], "error", "{x}");
        assert!(
            x["error"]
                .as_str()
                .unwrap()
                .contains("is not a regular file"),
            "{x}"
        );
        let list = dir.path().join("pairs.jsonl");
        let line = serde_json::json!({"a": base.to_str(), "b": pipe.to_str(), "name": "p"});
        std::fs::write(&list, format!("{line}\n")).unwrap();
        let out = diffimg_bounded(&[os("--pairs"), list.as_os_str()], 4 << 30, 60);
        let p = record(&out, "p");
        assert_eq!(p["status"], "error", "{p}");
        assert!(p["error"].as_str().unwrap().contains(cause), "{p}");
    }
}

/// Diff image paths that cannot or must not be written.
mod output_paths {
    use super::*;

    fn run(out: &Path) -> Output {
        diffimg([
            bad("base.png").as_os_str(),
            bad("base.jpg").as_os_str(),
            os("-f"),
            out.as_os_str(),
        ])
    }

    #[test]
    fn unwritable_places() {
        // Under a regular file.
        let out = run(&bad("base.png").join("diff.png"));
        assert_error(&out, "is not a folder");
        // Root may write almost anywhere, but not in /proc.
        let out = run(Path::new("/proc/diffimg-hostile-test.png"));
        assert_error(&out, "/proc/diffimg-hostile-test.png");
        let dir = tempfile::tempdir().unwrap();
        let out = run(&dir.path().join("missing/diff.png"));
        assert_error(&out, "does not exist");
        let out = run(dir.path());
        assert_error(&out, "is a directory");
        let out = run(&dir.path().join("diff.unknown"));
        assert_error(&out, "extension");
        // A trailing slash fails only at the final rename: the temporary file goes too.
        let out = run(&dir.path().join("diff.png/"));
        assert_error(&out, "diff.png/");
        assert_eq!(files_in(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn an_input_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input.png");
        std::fs::copy(bad("base.png"), &input).unwrap();
        let original = bytes(&input);
        let other = bad("base.jpg");
        let out = diffimg([
            input.as_os_str(),
            other.as_os_str(),
            os("-f"),
            input.as_os_str(),
        ]);
        assert_error(&out, "input");
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let out = diffimg([
            other.as_os_str(),
            input.as_os_str(),
            os("-f"),
            link.as_os_str(),
        ]);
        assert_error(&out, "input");
        assert_eq!(bytes(&input), original);
        assert_eq!(files_in(dir.path()), ["input.png", "link.png"]);
        // A hard link is the same file by another name.
        let hard = dir.path().join("hard.png");
        std::fs::hard_link(&input, &hard).unwrap();
        let out = diffimg([
            input.as_os_str(),
            other.as_os_str(),
            os("-f"),
            hard.as_os_str(),
        ]);
        assert_error(&out, "input");
        assert_eq!(bytes(&input), original);
        assert_eq!(files_in(dir.path()), ["hard.png", "input.png", "link.png"]);
    }

    /// A device, pipe or socket would be replaced by a regular file (as root, even in /dev):
    /// refused, and left as it was.
    #[test]
    fn special_files_are_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.png");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        assert_error(&run(&fifo), "not a regular file");
        let null = dir.path().join("null.png");
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
        assert_error(&run(&null), "not a regular file");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(std::fs::read_link(&null).unwrap(), Path::new("/dev/null"));
        assert_eq!(files_in(dir.path()), ["fifo.png", "null.png"]);
    }

    /// Every layout in every format that can be written: each file complete and readable.
    #[test]
    fn every_layout_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        for name in [
            "grey8.png",
            "grey-alpha8.png",
            "rgb8-adam7.png",
            "rgba8.png",
            "grey16.png",
            "grey-alpha16.png",
            "rgb16.png",
            "rgba16.png",
        ] {
            let black = black(dir.path(), 7, 5);
            let stem = name.trim_end_matches(".png");
            // PNM (P5 or P6) has no alpha: see `outputs.rs` for what it refuses.
            let alpha = name.contains("alpha") || name.contains("rgba");
            let every = ["png", "jpg", "bmp", "tiff", "webp", "pam", "qoi", "tga"];
            for ext in every.into_iter().chain((!alpha).then_some("pnm")) {
                let out = dir.path().join(format!("{stem}.{ext}"));
                let args = [
                    bad(name).into_os_string(),
                    black.clone().into(),
                    "-f".into(),
                ];
                let run = diffimg(args.iter().map(|a| a.as_os_str()).chain([out.as_os_str()]));
                assert_eq!(run.status.code(), Some(0), "{stem}.{ext}: {}", stderr(&run));
                let diff = decode_independently(&out);
                assert_eq!((diff.width(), diff.height()), (7, 5), "{stem}.{ext}");
                written.push(format!("{stem}.{ext}"));
            }
        }
        written.push("black-7x5.png".into());
        written.sort();
        assert_eq!(files_in(dir.path()), written, "no temporary files left");
    }
}
