//! The perceptual count: equal on both engines and whatever the band size (halo rows at band
//! borders), anti-aliasing drawn by hand, regions across band borders, every style's pixels,
//! ignored areas and masks, the union canvas, the gate and the JSON fields.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_error, diffimg, skip_without_gpu, stderr, stdout, write_png};
use diffimg::internals::ReportInternals;
use diffimg::{
    Backend, Canvas, Depth, GpuOptions, Layout, Options, PerceptualOptions, Rect, Report, Samples,
    Style,
};

/// Pixels with structure: flat areas, a gradient, noise and semi-transparent patches, so that
/// equal, slightly and much changed, and anti-aliasing-like pixels all occur.
fn scene(rng: &mut fastrand::Rng, width: u32, height: u32, layout: Layout) -> Vec<u32> {
    let c = layout.channels as usize;
    let max = layout.depth.max_value();
    let mut out = Vec::with_capacity(width as usize * height as usize * c);
    for y in 0..height {
        for x in 0..width {
            for ch in 0..c {
                let v = match (x / 8 + y / 8) % 3 {
                    0 => max * ((x + y) % 7) / 6,
                    1 => rng.u32(..=max),
                    _ => max / 2,
                };
                let alpha = layout.has_alpha() && ch == c - 1;
                out.push(if alpha && (x + 2 * y) % 5 != 0 {
                    max
                } else {
                    v
                });
            }
        }
    }
    out
}

fn samples(values: &[u32], depth: Depth) -> Samples {
    match depth {
        Depth::Eight => Samples::U8(values.iter().map(|&v| v as u8).collect()),
        Depth::Sixteen => Samples::U16(values.iter().map(|&v| v as u16).collect()),
        Depth::Float => unreachable!("the perceptual count is for integer samples"),
    }
}

/// A pair in `dir`: a scene, and a copy with one pixel in three changed by a small or a large
/// step.
fn pair(dir: &Path, name: &str, width: u32, height: u32, layout: Layout) -> (PathBuf, PathBuf) {
    let mut rng = fastrand::Rng::with_seed(u64::from(width * 31 + height) + layout.channels as u64);
    let a = scene(&mut rng, width, height, layout);
    let max = layout.depth.max_value();
    let b: Vec<u32> = a
        .iter()
        .map(|&v| match rng.u32(..6) {
            0 => v.saturating_add(max / 40).min(max),
            1 => rng.u32(..=max),
            _ => v,
        })
        .collect();
    let (pa, pb) = (
        dir.join(format!("{name}-a.png")),
        dir.join(format!("{name}-b.png")),
    );
    write_png(&pa, width, height, layout, &samples(&a, layout.depth));
    write_png(&pb, width, height, layout, &samples(&b, layout.depth));
    (pa, pb)
}

fn run(a: &Path, b: &Path, options: &Options) -> Report {
    diffimg::compare(a, b, options).unwrap_or_else(|e| panic!("{e}"))
}

/// Everything but timing and engine: the figures two runs must share.
fn figures(report: &Report) -> String {
    format!(
        "{:?} {:?} {}",
        report.stats(),
        report.perceptual(),
        report.ignored()
    )
}

fn gpu_works() -> bool {
    let options = Options {
        backend: Backend::Gpu,
        ..Options::default()
    };
    let black = common::fixture("black.png");
    match diffimg::compare(&black, &black, &options) {
        Ok(_) => true,
        Err(e) => {
            skip_without_gpu(&e.to_string());
            false
        }
    }
}

/// Every layout, threshold and anti-aliasing setting, at bands of 1 row, 3 rows and whole
/// images: the CPU's figures are the same at every band size, the GPU's equal the CPU's, and
/// so do the heatmap and highlight images pixel for pixel.
#[test]
fn engines_and_band_sizes_agree() {
    let dir = tempfile::tempdir().unwrap();
    let gpu = gpu_works();
    let layouts = [
        Layout::L8,
        Layout::LA8,
        Layout::RGB8,
        Layout::RGBA8,
        Layout::L16,
        Layout::LA16,
        Layout::RGB16,
        Layout::RGBA16,
    ];
    let (width, height) = (29, 23);
    for layout in layouts {
        let (a, b) = pair(dir.path(), &layout.to_string(), width, height, layout);
        for (threshold, aa, style) in [
            (0.0, false, Style::Heatmap),
            (0.05, true, Style::Highlight),
            (0.1, true, Style::Heatmap),
            (0.5, false, Style::Mask),
        ] {
            let mut reference: Option<(String, Vec<u8>)> = None;
            let backends: &[Backend] = if gpu {
                &[Backend::Cpu, Backend::Gpu]
            } else {
                &[Backend::Cpu]
            };
            for &backend in backends {
                for band_rows in [1, 3, height] {
                    let out = dir
                        .path()
                        .join(format!("{layout}-{backend:?}-{band_rows}.png"));
                    let options = Options {
                        backend,
                        band_pixels: u64::from(width * band_rows),
                        gpu: small_batches(),
                        perceptual: Some(PerceptualOptions { threshold, aa }),
                        style,
                        diff_image: Some(out.clone()),
                        ..Options::default()
                    };
                    let report = run(&a, &b, &options);
                    let seen = (figures(&report), image::open(&out).unwrap().into_bytes());
                    let what = format!("{layout} t={threshold} aa={aa} {backend:?} {band_rows}");
                    match &reference {
                        None => reference = Some(seen),
                        Some(first) => assert!(first == &seen, "{what}: {}\n{}", first.0, seen.0),
                    }
                }
            }
            let (text, _) = reference.unwrap();
            if threshold < 0.5 {
                assert!(
                    !text.contains("changed: 0,"),
                    "{layout} t={threshold}: {text}"
                );
            }
        }
    }
}

/// A vertical edge drawn with one column of grey (anti-aliasing), moved one pixel right in
/// image 2: without `--aa` the grey columns are changed; with it they are anti-aliased, since
/// each sits between darker and brighter neighbours that have many identical siblings.
#[test]
fn a_moved_anti_aliased_edge_is_anti_aliasing() {
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = (12u32, 9u32);
    let edge = |at: u32| -> Vec<u32> {
        (0..height)
            .flat_map(|_| {
                (0..width).map(move |x| {
                    if x < at {
                        0
                    } else if x == at {
                        128
                    } else {
                        255
                    }
                })
            })
            .collect()
    };
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_png(
        &a,
        width,
        height,
        Layout::L8,
        &samples(&edge(5), Depth::Eight),
    );
    write_png(
        &b,
        width,
        height,
        Layout::L8,
        &samples(&edge(6), Depth::Eight),
    );
    let count = |aa: bool, backend: Backend| {
        let options = Options {
            backend,
            band_pixels: u64::from(width * 2),
            gpu: small_batches(),
            perceptual: Some(PerceptualOptions { threshold: 0.1, aa }),
            ..Options::default()
        };
        let p = run(&a, &b, &options).perceptual().cloned().unwrap();
        (p.changed, p.anti_aliased)
    };
    // Columns 5 (grey against black) and 6 (white against grey) differ on every row.
    assert_eq!(count(false, Backend::Cpu), (2 * u64::from(height), 0));
    assert_eq!(count(true, Backend::Cpu), (0, 2 * u64::from(height)));
    if gpu_works() {
        assert_eq!(count(true, Backend::Gpu), (0, 2 * u64::from(height)));
    }
}

/// Regions are 8-connected and joined across band borders: a diagonal line and a U whose arms
/// meet only at the bottom are one region each, a lone pixel is a third; boxes come largest
/// first, whatever the band size.
#[test]
fn regions_join_across_band_borders() {
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = (20u32, 16u32);
    let mut b = vec![0u32; (width * height) as usize];
    let mut set = |x: u32, y: u32| b[(y * width + x) as usize] = 255;
    for i in 0..8 {
        set(1 + i, 1 + i); // diagonal: 8 pixels
    }
    for y in 2..14 {
        set(12, y); // U: two arms of 12 and a bottom of 5, 29 pixels
        set(16, y);
    }
    for x in 12..=16 {
        set(x, 14);
    }
    set(5, 14); // lone pixel
    let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_png(
        &pa,
        width,
        height,
        Layout::L8,
        &Samples::U8(vec![0; (width * height) as usize]),
    );
    write_png(&pb, width, height, Layout::L8, &samples(&b, Depth::Eight));
    for band_rows in [1, 2, 5, height] {
        let options = Options {
            backend: Backend::Cpu,
            band_pixels: u64::from(width * band_rows),
            perceptual: Some(PerceptualOptions::default()),
            ..Options::default()
        };
        let p = run(&pa, &pb, &options).perceptual().cloned().unwrap();
        let boxes: Vec<_> = p
            .regions
            .boxes
            .iter()
            .map(|r| (r.x, r.y, r.width, r.height, r.pixels))
            .collect();
        assert_eq!(p.regions.count, 3, "{band_rows} rows a band");
        assert_eq!(
            boxes,
            [(12, 2, 5, 13, 29), (1, 1, 8, 8, 8), (5, 14, 1, 1, 1)]
        );
        assert!(!p.regions.truncated);
        assert_eq!(p.changed, 38);
    }
}

/// Each style's pixels: `highlight` fades image 1 to grey and marks changed pixels in the diff
/// colour; `mask` leaves all but the changed pixels transparent; `heatmap` paints equal pixels
/// black and changed ones in colour. The PNG holds palette indices and decodes in the style's
/// layout, to the pixels other formats get.
#[test]
fn style_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = (4u32, 2u32);
    let a: Vec<u32> = [[0, 0, 0], [255, 255, 255], [100, 150, 200], [10, 10, 10]]
        .iter()
        .cycle()
        .take(8)
        .flatten()
        .copied()
        .collect();
    let mut b = a.clone();
    b[0] = 255; // pixel 0: black to red
    let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_png(&pa, width, height, Layout::RGB8, &samples(&a, Depth::Eight));
    write_png(&pb, width, height, Layout::RGB8, &samples(&b, Depth::Eight));
    let draw_as = |style: &str, extension: &str| {
        let out = dir.path().join(format!("{style}.{extension}"));
        let run = diffimg([
            pa.as_os_str(),
            pb.as_os_str(),
            "--style".as_ref(),
            style.as_ref(),
            "--diff-color".as_ref(),
            "#00ff80".as_ref(),
            "-f".as_ref(),
            out.as_os_str(),
        ]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        image::open(out).unwrap()
    };
    let draw = |style: &str| {
        let png = draw_as(style, "png");
        let tiff = draw_as(style, "tiff");
        assert_eq!(png, tiff, "{style}");
        png
    };
    let indexed = |style: &str| {
        let file = std::fs::File::open(dir.path().join(format!("{style}.png"))).unwrap();
        let reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        reader.info().color_type
    };
    let highlight = draw("highlight");
    assert_eq!(highlight.color(), image::ColorType::Rgba8);
    let highlight = highlight.to_rgba8();
    assert_eq!(highlight.get_pixel(0, 0).0, [0, 255, 128, 255]);
    // Grey of the luma blended 90% towards white: black gives 230, white 255.
    assert_eq!(highlight.get_pixel(0, 1).0, [230, 230, 230, 255]);
    assert_eq!(highlight.get_pixel(1, 0).0, [255, 255, 255, 255]);
    let mask = draw("mask");
    assert_eq!(mask.color(), image::ColorType::Rgba8);
    let mask = mask.to_rgba8();
    assert_eq!(mask.get_pixel(0, 0).0, [0, 255, 128, 255]);
    assert!(mask.pixels().skip(1).all(|p| p.0 == [0, 0, 0, 0]));
    let heat = draw("heatmap");
    assert_eq!(heat.color(), image::ColorType::Rgb8);
    let heat = heat.to_rgb8();
    for style in ["highlight", "mask", "heatmap"] {
        assert_eq!(indexed(style), png::ColorType::Indexed, "{style}");
    }
    assert_ne!(heat.get_pixel(0, 0).0, [0, 0, 0]);
    assert!(heat.pixels().skip(1).all(|p| p.0 == [0, 0, 0]));
}

/// Ignored rectangles (clipped at the edges) and masks leave pixels out of every figure, the
/// ratio's denominator included; a mask of another size or one that cannot be read is an error.
#[test]
fn ignored_areas_and_masks() {
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = (10u32, 6u32);
    let a = vec![0u32; (width * height) as usize];
    let b = vec![255u32; (width * height) as usize];
    let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_png(&pa, width, height, Layout::L8, &samples(&a, Depth::Eight));
    write_png(&pb, width, height, Layout::L8, &samples(&b, Depth::Eight));
    // 8,4 + 5x5 reaches past the corner: clipped to 2x2.
    let ignore = vec![
        Rect {
            x: 0,
            y: 0,
            width: 3,
            height: 2,
        },
        Rect {
            x: 8,
            y: 4,
            width: 5,
            height: 5,
        },
        Rect {
            x: 50,
            y: 50,
            width: 2,
            height: 2,
        },
    ];
    let options = Options {
        backend: Backend::Cpu,
        ignore,
        perceptual: Some(PerceptualOptions::default()),
        band_pixels: u64::from(width * 2),
        ..Options::default()
    };
    let report = run(&pa, &pb, &options);
    assert_eq!(report.ignored(), 10);
    assert_eq!(report.changed(), 50);
    assert_eq!(report.stats().differing, 50);
    assert_eq!(report.ratio(), 1.0, "every compared pixel differs fully");
    // A mask: white in the left half, opaque black elsewhere.
    let mask = dir.path().join("mask.png");
    let m: Vec<u32> = (0..width * height)
        .map(|i| if i % width < 5 { 255 } else { 0 })
        .collect();
    write_png(&mask, width, height, Layout::L8, &samples(&m, Depth::Eight));
    let options = Options {
        backend: Backend::Cpu,
        mask: Some(mask.clone()),
        perceptual: Some(PerceptualOptions::default()),
        ..Options::default()
    };
    assert_eq!(run(&pa, &pb, &options).changed(), 30);
    let small = dir.path().join("small.png");
    write_png(&small, 3, 3, Layout::L8, &Samples::U8(vec![0; 9]));
    let out = diffimg([
        pa.as_os_str(),
        pb.as_os_str(),
        "--mask".as_ref(),
        small.as_os_str(),
    ]);
    assert_error(&out, "the mask is 3x3, the images are 10x6");
    let missing = dir.path().join("missing.png");
    let out = diffimg([
        pa.as_os_str(),
        pb.as_os_str(),
        "--mask".as_ref(),
        missing.as_os_str(),
    ]);
    assert_error(&out, "missing.png");
    for bad in ["1,2,3", "a,b,c,d", "-1,0,2,2"] {
        let out = diffimg([
            pa.as_os_str(),
            pb.as_os_str(),
            format!("--ignore={bad}").as_ref(),
        ]);
        assert_error(&out, "--ignore");
    }
}

/// A mask pixel leaves its pixel out when it is visible (alpha not 0) and not black: a
/// transparent mask with an opaque white rectangle leaves out the rectangle only.
#[test]
fn mask_leaves_out_visible_colour_only() {
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = (10u32, 6u32);
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    let pixels = (width * height) as usize;
    write_png(&a, width, height, Layout::L8, &Samples::U8(vec![0; pixels]));
    write_png(
        &b,
        width,
        height,
        Layout::L8,
        &Samples::U8(vec![255; pixels]),
    );
    let mut m = vec![0u8; pixels * 4];
    let mut put = |x: u32, y: u32, rgba: [u8; 4]| {
        let i = (y * width + x) as usize * 4;
        m[i..i + 4].copy_from_slice(&rgba);
    };
    for (x, y) in (2..5).flat_map(|x| (1..3).map(move |y| (x, y))) {
        put(x, y, [255, 255, 255, 255]);
    }
    // Left out: faint but visible red. Compared: transparent white, opaque black.
    put(8, 5, [255, 0, 0, 1]);
    put(0, 5, [255, 255, 255, 0]);
    put(9, 0, [0, 0, 0, 255]);
    let mask = dir.path().join("mask.png");
    write_png(&mask, width, height, Layout::RGBA8, &Samples::U8(m));
    let out = diffimg([
        a.as_os_str(),
        b.as_os_str(),
        "--mask".as_ref(),
        mask.as_os_str(),
        "-t".as_ref(),
        "0.1".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["ignored_pixels"], 7);
    assert_eq!(json["differing_pixels"], 53);
    assert_eq!(json["changed_pixels"], 53);
}

/// On a union canvas, the pixels only one image covers count as changed and, in the ratio, as
/// the largest difference; either image may be the larger, and no row or column is dropped.
#[test]
fn union_canvas_either_image_larger() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.png");
    let large = dir.path().join("large.png");
    write_png(&small, 4, 3, Layout::L8, &Samples::U8(vec![7; 12]));
    write_png(&large, 6, 5, Layout::L8, &Samples::U8(vec![7; 30]));
    for (a, b) in [(&small, &large), (&large, &small)] {
        for backend in [Backend::Cpu, Backend::Gpu] {
            if backend == Backend::Gpu && !gpu_works() {
                continue;
            }
            let options = Options {
                backend,
                canvas: Canvas::Union,
                perceptual: Some(PerceptualOptions::default()),
                band_pixels: 6,
                gpu: small_batches(),
                ..Options::default()
            };
            let report = run(a, b, &options);
            assert_eq!((report.width(), report.height()), (6, 5));
            assert_eq!(report.changed(), 18);
            assert_eq!(report.stats().differing, 18);
            assert_eq!(report.ratio(), 18.0 / 30.0);
        }
    }
    let out = diffimg([small.as_os_str(), large.as_os_str()]);
    assert_error(&out, "differ in size");
    let out = diffimg([
        small.as_os_str(),
        large.as_os_str(),
        "--canvas".as_ref(),
        "union".as_ref(),
        "--json".as_ref(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["canvas"]["image1"]["width"], 4);
    assert_eq!(json["canvas"]["image2"]["height"], 5);
}

/// `--max-changed` in pixels and in percent, with and without `-t`, and beside `--max-ratio`;
/// the JSON fields of the perceptual count.
#[test]
fn gate_and_json_fields() {
    let (a, b) = (
        common::fixture("mario-circle-cs.png"),
        common::fixture("mario-circle-node.png"),
    );
    let code = |extra: &[&str]| {
        let mut args = vec![a.as_os_str(), b.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        diffimg(&args).status.code()
    };
    assert_eq!(code(&["--max-changed", "100"]), Some(1));
    assert_eq!(code(&["--max-changed", "100000"]), Some(0));
    assert_eq!(code(&["--max-changed", "0.5%"]), Some(1));
    assert_eq!(code(&["--max-changed", "5%", "-t", "0.1"]), Some(0));
    assert_eq!(
        code(&["--max-changed", "5%", "--max-ratio", "0.001"]),
        Some(1)
    );
    for bad in ["-3", "5%%", "101%", "x"] {
        assert_eq!(code(&["--max-changed", bad]), Some(2), "{bad}");
    }
    assert_eq!(code(&["-t", "1.5"]), Some(2));
    let out = diffimg([
        a.as_os_str(),
        b.as_os_str(),
        "-t".as_ref(),
        "0.1".as_ref(),
        "--aa".as_ref(),
        "--json".as_ref(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for field in [
        "threshold",
        "changed_pixels",
        "changed_percent",
        "aa_pixels",
        "changed_bbox",
        "regions",
        "ignored_pixels",
    ] {
        assert!(!json[field].is_null(), "{field} in {json}");
    }
    assert!(json["regions"]["boxes"].as_array().unwrap().len() <= 100);
    let plain = diffimg([a.as_os_str(), b.as_os_str(), "--json".as_ref()]);
    let plain: serde_json::Value = serde_json::from_str(&stdout(&plain)).unwrap();
    assert!(plain.get("changed_pixels").is_none() && plain.get("aa_pixels").is_none());
}

/// Images wider than the device's texture limit (16384 on the software adapter) go through the
/// perceptual kernel whole, with the same figures on both engines.
#[test]
fn wider_than_the_texture_limit() {
    if !gpu_works() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path(), "wide", 16500, 4, Layout::RGBA8);
    let results: Vec<String> = [Backend::Cpu, Backend::Gpu]
        .into_iter()
        .map(|backend| {
            let options = Options {
                backend,
                band_pixels: 16500,
                gpu: small_batches(),
                perceptual: Some(PerceptualOptions {
                    threshold: 0.05,
                    aa: true,
                }),
                ..Options::default()
            };
            figures(&run(&a, &b, &options))
        })
        .collect();
    assert_eq!(results[0], results[1]);
    assert!(!results[0].contains("changed: 0,"), "{}", results[0]);
}

/// GPU options that hand the GPU engine the bands of `Options::band_pixels`, so that band edges
/// fall where a test puts them.
fn small_batches() -> GpuOptions {
    GpuOptions {
        batch_bytes: 0,
        ..GpuOptions::default()
    }
}
