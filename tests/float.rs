//! Floating-point images: OpenEXR (half and float, scan lines and tiles, compressed or not) and
//! 32-bit float TIFF, read as the same pixels; NaN, infinities, negative zero and subnormals
//! counted as `engine::float` defines; the GPU engine equal to the CPU engine on all of it; the
//! diff image as EXR or clamped to 16 bits; and what floating point refuses.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_error, diffimg, gpu_required, skip_without_gpu, stderr, write_png};
use diffimg::internals::{Band, CpuEngine, Engine, GpuEngine, Stats, probe};
use diffimg::{GpuOptions, Layout, MaxAt, Samples};
use exr::prelude::{
    AnyChannel, AnyChannels, Blocks, Compression, Encoding, FlatSamples, Image, Layer,
    LayerAttributes, LineOrder, WritableImage, f16,
};
use serde_json::Value;

const NAMES: [&[&str]; 4] = [&["Y"], &["Y", "A"], &["R", "G", "B"], &["R", "G", "B", "A"]];

/// How an EXR stores its pixels.
#[derive(Clone, Copy, Debug)]
struct Storage {
    half: bool,
    /// The first channel in float whatever `half` says: types mixed.
    mixed: bool,
    compression: Compression,
    /// Tile size, or scan lines.
    tiles: Option<usize>,
    /// Blocks stored bottom to top.
    decreasing: bool,
}

const SCAN_ZIP_HALF: Storage = Storage {
    half: true,
    mixed: false,
    compression: Compression::ZIP16,
    tiles: None,
    decreasing: false,
};

/// Writes `samples` (interleaved, `channels` a pixel) as an OpenEXR file.
fn write_exr(path: &Path, width: usize, channels: usize, samples: &[f32], storage: Storage) {
    let height = samples.len() / channels / width;
    let list = NAMES[channels - 1].iter().enumerate().map(|(c, name)| {
        let plane = samples.iter().skip(c).step_by(channels).copied();
        let flat = match storage.half && !(storage.mixed && c == 0) {
            true => FlatSamples::F16(plane.map(f16::from_f32).collect()),
            false => FlatSamples::F32(plane.collect()),
        };
        AnyChannel::new(*name, flat)
    });
    let blocks = match storage.tiles {
        Some(size) => Blocks::Tiles(exr::math::Vec2(size, size)),
        None => Blocks::ScanLines,
    };
    let encoding = Encoding {
        compression: storage.compression,
        blocks,
        line_order: match storage.decreasing {
            true => LineOrder::Decreasing,
            false => LineOrder::Increasing,
        },
    };
    let channels = AnyChannels::sort(list.collect());
    let layer = Layer::new(
        (width, height),
        LayerAttributes::default(),
        encoding,
        channels,
    );
    Image::from_layer(layer).write().to_file(path).unwrap();
}

/// Writes `samples` as a 32-bit float TIFF.
fn write_float_tiff(path: &Path, width: u32, channels: usize, samples: &[f32]) {
    use tiff::encoder::{TiffEncoder, colortype};
    let height = (samples.len() / channels) as u32 / width;
    let mut encoder = TiffEncoder::new(std::fs::File::create(path).unwrap()).unwrap();
    match channels {
        1 => encoder.write_image::<colortype::Gray32Float>(width, height, samples),
        3 => encoder.write_image::<colortype::RGB32Float>(width, height, samples),
        _ => encoder.write_image::<colortype::RGBA32Float>(width, height, samples),
    }
    .unwrap();
}

/// A render-like image: smooth values in 0..1 with some above 1, and `b` with a few local
/// edits, every value a half.
fn render_pair(width: usize, height: usize, channels: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = fastrand::Rng::with_seed((width * height + channels) as u64);
    let a: Vec<f32> = (0..width * height * channels)
        .map(|i| {
            let (p, c) = (i / channels, i % channels);
            let (x, y) = ((p % width) as f32, (p / width) as f32);
            let v = (x * 0.07 + c as f32).sin() * (y * 0.05).cos() * 1.5 + 0.5;
            f16::from_f32(v).to_f32()
        })
        .collect();
    let mut b = a.clone();
    for _ in 0..6 {
        let (x0, y0) = (rng.usize(..width), rng.usize(..height));
        for y in y0..(y0 + 9).min(height) {
            for x in x0..(x0 + 13).min(width) {
                let i = (y * width + x) * channels + rng.usize(..channels);
                b[i] = f16::from_f32(b[i] + rng.f32() * 0.5 - 0.2).to_f32();
            }
        }
    }
    (a, b)
}

fn json(args: &[&std::ffi::OsStr]) -> Value {
    let out = diffimg(args.iter().copied().chain(["--json".as_ref()]));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The figures of a JSON report, without what depends on the run.
fn figures(mut value: Value) -> Value {
    let object = value.as_object_mut().unwrap();
    object.remove("engine");
    object.remove("elapsed_ms");
    value
}

fn paths(dir: &Path, name: &str, ext: &str) -> [PathBuf; 2] {
    [1, 2].map(|i| dir.join(format!("{name}{i}.{ext}")))
}

#[test]
fn every_storage_of_the_same_pixels_gives_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = (45, 37);
    for channels in 1..=4 {
        let (a, b) = render_pair(width, height, channels);
        let storages = [
            SCAN_ZIP_HALF,
            Storage {
                half: false,
                compression: Compression::Uncompressed,
                ..SCAN_ZIP_HALF
            },
            Storage {
                compression: Compression::PIZ,
                tiles: Some(16),
                ..SCAN_ZIP_HALF
            },
            Storage {
                half: false,
                compression: Compression::RLE,
                tiles: Some(8),
                ..SCAN_ZIP_HALF
            },
            Storage {
                mixed: true,
                ..SCAN_ZIP_HALF
            },
            Storage {
                decreasing: true,
                ..SCAN_ZIP_HALF
            },
        ];
        let mut seen: Option<Value> = None;
        for (s, storage) in storages.iter().enumerate() {
            let [pa, pb] = paths(dir.path(), &format!("c{channels}s{s}-"), "exr");
            write_exr(&pa, width, channels, &a, *storage);
            write_exr(&pb, width, channels, &b, *storage);
            for backend in ["cpu", "gpu"] {
                if backend == "gpu" && probe().is_err() && !gpu_required() {
                    continue;
                }
                let got = figures(json(&[
                    pa.as_ref(),
                    pb.as_ref(),
                    "--backend".as_ref(),
                    backend.as_ref(),
                ]));
                match &seen {
                    None => seen = Some(got),
                    Some(want) => assert_eq!(&got, want, "{channels} channels, {storage:?}"),
                }
            }
        }
        // 32-bit float TIFF (grey, RGB and RGBA: TIFF has no grey + alpha encoder here).
        if channels != 2 {
            let [ta, tb] = paths(dir.path(), &format!("c{channels}-"), "tiff");
            write_float_tiff(&ta, width as u32, channels, &a);
            write_float_tiff(&tb, width as u32, channels, &b);
            let got = figures(json(&[ta.as_ref(), tb.as_ref()]));
            assert_eq!(Some(got), seen, "{channels} channels as TIFF");
        }
        // The ratio against the sums computed here, in the fixed point.
        let want = seen.unwrap();
        let sum: u64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| ((x - y).abs() * 16777216.0) as u64)
            .sum();
        let pixels = (width * height) as f64;
        assert_eq!(want["sum"].as_f64(), Some(sum as f64 / 16777216.0));
        assert_eq!(want["nan"], 0);
        assert_eq!(want["inf"], 0);
        assert_eq!(want["bit_depth"], 32);
        let ratio = want["ratio"].as_f64().unwrap();
        assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
        assert!(want["psnr"].as_f64().is_some() && want["rms"].as_f64().unwrap() > 0.0);
        assert!(sum as f64 / 16777216.0 / pixels / channels as f64 - ratio < 1e-12);
    }
}

/// Pairs of samples and what `engine::float` makes of them: (a, b, fixed-point difference),
/// NaN and infinite ones apart.
#[test]
fn special_values_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = f32::from_bits(1); // subnormal
    #[rustfmt::skip]
    let (a, b): (Vec<f32>, Vec<f32>) = [
        (0.5, 0.25),                 // 0.25
        (-0.0, 0.0),                 // equal
        (tiny, 0.0),                 // subnormal: zero
        (f32::NAN, f32::NAN),        // equal
        (f32::NAN, 1.0),             // nan
        (f32::INFINITY, f32::INFINITY), // equal
        (f32::INFINITY, 1.0),        // inf
        (70000.0, 0.0),              // inf: 65536 and more
        (2.0, 0.0),                  // 2: past the nominal maximum
        (1e-9, 0.0),                 // differs, adds nothing
        (-1.0, 1.0),                 // 2
        (3.0, 3.0),                  // equal
    ]
    .into_iter()
    .unzip();
    let [pa, pb] = paths(dir.path(), "special", "exr");
    let storage = Storage {
        half: false,
        ..SCAN_ZIP_HALF
    };
    write_exr(&pa, 4, 1, &a, storage);
    write_exr(&pb, 4, 1, &b, storage);
    let mut results = Vec::new();
    for backend in ["cpu", "gpu"] {
        if backend == "gpu" && probe().is_err() && !gpu_required() {
            continue;
        }
        let args = [
            pa.as_ref(),
            pb.as_ref(),
            "--backend".as_ref(),
            backend.as_ref(),
        ];
        results.push(figures(json(&args)));
    }
    let got = &results[0];
    assert!(
        results.iter().all(|r| r == got),
        "engines differ: {results:?}"
    );
    assert_eq!(got["nan"], 1);
    assert_eq!(got["inf"], 2);
    assert_eq!(got["differing_pixels"], 7);
    assert_eq!(got["sum"].as_f64(), Some(4.25));
    assert_eq!(got["ratio"].as_f64(), Some(4.25 / 12.0));
    assert_eq!(got["max_diff"].as_f64(), Some(2.0));
    assert_eq!(
        got["max_diff_at"],
        serde_json::json!({"x": 0, "y": 2, "channel": 0})
    );
    assert_eq!(
        got["bbox"],
        serde_json::json!({"x": 0, "y": 0, "width": 4, "height": 3})
    );
    // NaN and infinite differences are over any --max-diff; finite ones by their size.
    let gate = |a: &Path, b: &Path, v: &str| {
        diffimg([
            a.as_ref(),
            b.as_ref(),
            "--max-diff".as_ref(),
            v.as_ref() as &std::ffi::OsStr,
        ])
        .status
        .code()
    };
    assert_eq!(gate(&pa, &pb, "100"), Some(1));
    let [fa, fb] = paths(dir.path(), "finite", "exr");
    write_exr(&fa, 2, 1, &[0.5, 1.0], storage);
    write_exr(&fb, 2, 1, &[0.25, 1.0], storage);
    assert_eq!(gate(&fa, &fb, "0.25"), Some(0));
    assert_eq!(gate(&fa, &fb, "0.2"), Some(1));
}

#[test]
fn diff_image_is_exr_or_clamped_to_16_bits() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage {
        half: false,
        ..SCAN_ZIP_HALF
    };
    let a = [0.5, 0.0, 2.0, f32::NAN, 1.0, 0.75];
    let b = [0.25, 0.0, 0.0, 0.0, 1.0, 0.5];
    let [pa, pb] = paths(dir.path(), "pair", "exr");
    write_exr(&pa, 2, 3, &a, storage);
    write_exr(&pb, 2, 3, &b, storage);
    let exr_out = dir.path().join("diff.exr");
    let out = diffimg([&pa, &pb, &"-f".into(), &exr_out]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let image = exr::prelude::read_first_rgba_layer_from_file(
        &exr_out,
        |size, _| vec![[0f32; 4]; size.area()],
        |pixels, at, (r, g, b, a): (f32, f32, f32, f32)| pixels[at.y() * 2 + at.x()] = [r, g, b, a],
    )
    .unwrap();
    let pixels = &image.layer_data.channel_data.pixels;
    assert_eq!(pixels[0][..3], [0.25, 0.0, 2.0]);
    assert!(pixels[1][0].is_nan() && pixels[1][1..3] == [0.0, 0.25]);
    // The same image gives the same bytes, on either engine.
    for backend in ["cpu", "gpu"] {
        if backend == "gpu" && probe().is_err() && !gpu_required() {
            continue;
        }
        let again = dir.path().join(format!("again-{backend}.exr"));
        let args = [
            &pa,
            &pb,
            &"-f".into(),
            &again,
            &"--backend".into(),
            &backend.into(),
        ];
        assert_eq!(diffimg(args).status.code(), Some(0));
        assert!(std::fs::read(&again).unwrap() == std::fs::read(&exr_out).unwrap());
    }
    // Grey stays grey (a Y channel), its values the differences.
    let [ga, gb] = paths(dir.path(), "grey", "exr");
    write_exr(&ga, 3, 1, &[0.5, 0.125, 3.0], storage);
    write_exr(&gb, 3, 1, &[0.25, 0.125, 1.0], storage);
    let [grey_diff, zeros] = [
        dir.path().join("grey-diff.exr"),
        dir.path().join("zeros.exr"),
    ];
    write_exr(&zeros, 3, 1, &[0.0; 3], storage);
    assert_eq!(
        diffimg([&ga, &gb, &"-f".into(), &grey_diff]).status.code(),
        Some(0)
    );
    let read_back = json(&[grey_diff.as_ref(), zeros.as_ref()]);
    assert_eq!(
        (read_back["channels"].clone(), read_back["sum"].clone()),
        (1.into(), 2.25.into())
    );

    let png_out = dir.path().join("diff.png");
    let out = diffimg([&pa, &pb, &"-f".into(), &png_out]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let png = image::open(&png_out).unwrap().into_rgb16();
    assert_eq!(png.as_raw(), &[16384, 0, 65535, 65535, 0, 16384]);
}

#[test]
fn what_floating_point_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let [pa, pb] = paths(dir.path(), "f", "exr");
    write_exr(&pa, 2, 3, &[0.5; 6], SCAN_ZIP_HALF);
    write_exr(&pb, 2, 3, &[0.25; 6], SCAN_ZIP_HALF);
    let png = dir.path().join("int.png");
    write_png(&png, 2, 1, Layout::RGB8, &Samples::U8(vec![1; 6]));
    assert_error(
        &diffimg([&pa, &png]),
        "compared only with floating-point images",
    );
    for option in ["-t", "--style"] {
        let value = if option == "-t" { "0.1" } else { "heatmap" };
        let out = diffimg([
            pa.as_os_str(),
            pb.as_os_str(),
            option.as_ref(),
            value.as_ref(),
        ]);
        assert_error(&out, "made for integer samples");
    }
    // A truncated file is an error, and leaves no diff image.
    let bytes = std::fs::read(&pa).unwrap();
    let cut = dir.path().join("cut.exr");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let target = dir.path().join("diff.png");
    assert_error(&diffimg([&cut, &pb, &"-f".into(), &target]), "cut.exr");
    assert!(!target.exists());
}

/// An engine, or `None` (after saying so) when there is no adapter and none is required.
fn gpu() -> Option<GpuEngine> {
    if let Err(e) = probe() {
        skip_without_gpu(&e.to_string());
        return None;
    }
    Some(GpuEngine::new(GpuOptions::default()).expect("an adapter exists"))
}

/// A float with every kind of value a sample can hold: ordinary ones, ones past 1 and past
/// 65536, negatives, subnormals, both zeros, infinities and NaN.
fn any_float(rng: &mut fastrand::Rng) -> f32 {
    match rng.u8(..20) {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => f32::from_bits(rng.u32(1..0x0080_0000)),
        4 => -0.0,
        5 => 0.0,
        6 => rng.f32() * 140000.0 - 70000.0,
        7 => f32::from_bits(rng.u32(..)),
        8 => rng.f32() * 1e-6,
        _ => rng.f32() * 4.0 - 1.0,
    }
}

#[test]
fn gpu_engine_equals_cpu_engine_on_every_kind_of_float() {
    let Some(mut gpu) = gpu() else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(3);
    for channels in 1..=4u8 {
        for (width, rows) in [(1, 1), (17, 3), (300, 41), (1100, 9)] {
            let len = (width * rows) as usize * usize::from(channels);
            let a: Vec<f32> = (0..len).map(|_| any_float(&mut rng)).collect();
            // Half the samples equal, the rest anything.
            let b: Vec<f32> = a
                .iter()
                .map(|&v| if rng.bool() { v } else { any_float(&mut rng) })
                .collect();
            let band = Band {
                width,
                y: 7,
                rows,
                halo_above: 0,
                halo_below: 0,
                layout: Layout::new(channels, diffimg::Depth::Float),
                a: Samples::F32(a),
                b: Samples::F32(b),
            };
            for ignore_alpha in [false, true] {
                let what = format!("{channels} channels, {width}x{rows}, {ignore_alpha}");
                let (mut want, mut got) = (Samples::F32(Vec::new()), Samples::F32(Vec::new()));
                let cpu = CpuEngine::default()
                    .diff_band(&band, ignore_alpha, Some(&mut want))
                    .unwrap();
                let on_gpu = gpu.diff_band(&band, ignore_alpha, Some(&mut got)).unwrap();
                assert_eq!(on_gpu, cpu, "{what}");
                assert!(
                    got.as_bytes() == want.as_bytes(),
                    "{what}: diff samples differ"
                );
                let without = gpu.diff_band(&band, ignore_alpha, None).unwrap();
                assert_eq!(without, cpu, "{what}: without a diff");
            }
        }
    }
}

#[test]
fn sums_of_large_float_differences_carry_on_both_engines() {
    // 65535.99 in every sample of 2^16 pixels: sums past 2^56, squares past 2^96.
    let (width, rows) = (256, 256);
    let len = (width * rows * 4) as usize;
    let big = 65535.99f32;
    let band = Band {
        width,
        y: 0,
        rows,
        halo_above: 0,
        halo_below: 0,
        layout: Layout::RGBAF,
        a: Samples::F32(vec![big; len]),
        b: Samples::F32(vec![0.0; len]),
    };
    let q = u128::from((big * 16777216.0) as u64);
    let want = Stats {
        sums: [q * 65536; 4],
        squares: [q * q * 65536; 4],
        differing: 65536,
        max: big.to_bits(),
        max_at: Some(MaxAt {
            x: 0,
            y: 0,
            channel: 0,
        }),
        bounds: Some(diffimg::internals::Bounds {
            x0: 0,
            y0: 0,
            x1: width - 1,
            y1: rows - 1,
        }),
        nan: 0,
        inf: 0,
    };
    assert_eq!(
        CpuEngine::default().diff_band(&band, false, None).unwrap(),
        want
    );
    if let Some(mut gpu) = gpu() {
        assert_eq!(gpu.diff_band(&band, false, None).unwrap(), want);
    }
}

#[test]
fn batch_mode_pairs_exr_files_and_gates_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for side in [&a, &b] {
        std::fs::create_dir(side).unwrap();
    }
    let (pa, pb) = render_pair(20, 10, 4);
    write_exr(&a.join("shot.exr"), 20, 4, &pa, SCAN_ZIP_HALF);
    write_exr(&b.join("shot.exr"), 20, 4, &pb, SCAN_ZIP_HALF);
    write_exr(&a.join("same.exr"), 20, 4, &pa, SCAN_ZIP_HALF);
    write_exr(&b.join("same.exr"), 20, 4, &pa, SCAN_ZIP_HALF);
    let out = diffimg([
        a.as_os_str(),
        b.as_os_str(),
        "--max-diff".as_ref(),
        "0.01".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let status = |name: &str| {
        let record = records.iter().find(|r| r["name"] == name).unwrap();
        (record["status"].clone(), record["nan"].clone())
    };
    assert_eq!(status("shot.exr"), ("over-gate".into(), 0.into()));
    assert_eq!(status("same.exr").0, "equal");
}

/// Blocks that repeat a row of blocks: one line naming the file. (A forged data window is in
/// tests/hostile.rs, where memory is measured.)
#[test]
fn repeated_exr_blocks() {
    let dir = tempfile::tempdir().unwrap();
    // The second entry of the offset table pointing at the first block: rows 0 to 15 come
    // twice, and rows 16 to 31 never.
    let tall = dir.path().join("tall.exr");
    write_exr(&tall, 8, 1, &[0.5; 8 * 32], SCAN_ZIP_HALF);
    let mut bytes = std::fs::read(&tall).unwrap();
    let word = |b: &[u8], p: usize| u64::from_le_bytes(b[p..p + 8].try_into().unwrap());
    // Two offsets, the first pointing just past the table.
    let table = (0..bytes.len() - 16)
        .find(|&p| word(&bytes, p) == p as u64 + 16)
        .unwrap();
    let first = bytes[table..table + 8].to_vec();
    bytes[table + 8..table + 16].copy_from_slice(&first);
    let repeated = dir.path().join("repeated.exr");
    std::fs::write(&repeated, &bytes).unwrap();
    assert_error(&diffimg([&repeated, &tall]), "repeated.exr");
}

/// Writes pairs of small OpenEXR files in every storage above into `fuzz/corpus/compare`, in
/// the fuzz target's input format (the first file's length in two bytes, a flag byte, both
/// files); `fuzz/seed-corpus.sh` runs it.
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/seed-corpus.sh"]
fn write_fuzz_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/compare");
    std::fs::create_dir_all(&out).unwrap();
    let storages = [
        SCAN_ZIP_HALF,
        Storage {
            compression: Compression::ZIP1,
            half: false,
            ..SCAN_ZIP_HALF
        },
        Storage {
            compression: Compression::PIZ,
            tiles: Some(8),
            ..SCAN_ZIP_HALF
        },
        Storage {
            compression: Compression::RLE,
            tiles: Some(4),
            mixed: true,
            ..SCAN_ZIP_HALF
        },
        Storage {
            compression: Compression::PXR24,
            half: false,
            decreasing: true,
            ..SCAN_ZIP_HALF
        },
        Storage {
            compression: Compression::Uncompressed,
            ..SCAN_ZIP_HALF
        },
    ];
    for (s, storage) in storages.into_iter().enumerate() {
        for channels in [1, 4] {
            let (a, b) = render_pair(13, 11, channels);
            let [pa, pb] = paths(dir.path(), "seed", "exr");
            write_exr(&pa, 13, channels, &a, storage);
            write_exr(&pb, 13, channels, &b, storage);
            let (a, b) = (std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
            let mut seed = (a.len() as u16).to_le_bytes().to_vec();
            seed.push((s % 8) as u8);
            seed.extend(a.iter().chain(&b));
            std::fs::write(out.join(format!("exr-{s}-{channels}")), seed).unwrap();
        }
    }
}

#[test]
fn integer_diff_as_exr_is_scaled_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_png(
        &a,
        2,
        1,
        Layout::RGB8,
        &Samples::U8(vec![0, 10, 255, 7, 7, 7]),
    );
    write_png(
        &b,
        2,
        1,
        Layout::RGB8,
        &Samples::U8(vec![255, 10, 0, 7, 7, 58]),
    );
    let diff = dir.path().join("diff.exr");
    assert_eq!(
        diffimg([&a, &b, &"-f".into(), &diff]).status.code(),
        Some(0)
    );
    let zeros = dir.path().join("zeros.exr");
    write_exr(&zeros, 2, 3, &[0.0; 6], SCAN_ZIP_HALF);
    let read_back = json(&[diff.as_ref(), zeros.as_ref()]);
    assert_eq!(read_back["channels"], 3);
    assert_eq!(read_back["max_diff"].as_f64(), Some(1.0));
    assert_eq!(read_back["differing_pixels"], 2);
}

/// Rows of blocks held while the blocks before them come in are bounded in bytes (as `f32`
/// samples), both images together, by the budget of images decoded whole: an image stored
/// bottom to top, given as both inputs, is refused once they pass it (16384x16400 half RGBA
/// reached 4-5 GB at the default limit; here the limit is scaled down by `--max-pixels`).
#[test]
fn blocks_held_out_of_order_are_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("down.exr");
    let storage = Storage {
        decreasing: true,
        ..SCAN_ZIP_HALF
    };
    write_exr(&path, 512, 4, &vec![0.5; 512 * 512 * 4], storage);
    let args = [
        path.as_os_str(),
        path.as_os_str(),
        "--max-pixels=262144".as_ref(),
    ];
    assert_error(
        &diffimg(args),
        "down.exr: blocks stored so far out of row order that more than 524288 bytes are held",
    );
}

/// An offset table entry of 2^63 (past what a seek takes) is said to lie outside the file,
/// not as the system call's `Invalid argument`.
#[test]
fn block_offset_outside_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let tall = dir.path().join("tall.exr");
    write_exr(&tall, 8, 1, &[0.5; 8 * 32], SCAN_ZIP_HALF);
    let mut bytes = std::fs::read(&tall).unwrap();
    let word = |b: &[u8], p: usize| u64::from_le_bytes(b[p..p + 8].try_into().unwrap());
    let table = (0..bytes.len() - 16)
        .find(|&p| word(&bytes, p) == p as u64 + 16)
        .unwrap();
    bytes[table + 8..table + 16].copy_from_slice(&(1u64 << 63).to_le_bytes());
    let far = dir.path().join("far.exr");
    std::fs::write(&far, &bytes).unwrap();
    assert_error(
        &diffimg([&far, &tall]),
        "far.exr: a block's offset in the offset table lies outside the file",
    );
}

/// Channels that make no layout read here are listed, a few of them: 10,000 names were.
#[test]
fn unreadable_channels_listed_in_short() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.exr");
    let list = (0..10_000)
        .map(|c| {
            AnyChannel::new(
                format!("c{c:05}").as_str(),
                FlatSamples::F16(vec![f16::ONE]),
            )
        })
        .collect();
    let layer = Layer::new(
        (1, 1),
        LayerAttributes::default(),
        Encoding::UNCOMPRESSED,
        AnyChannels::sort(list),
    );
    Image::from_layer(layer).write().to_file(&path).unwrap();
    let out = diffimg([&path, &path]);
    assert_error(&out, "c00007 and 9992 more are not RGB");
    assert!(stderr(&out).len() < 400, "{}", stderr(&out));
}
