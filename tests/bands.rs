//! Streaming: every band size, on both engines, gives the figures and the diff image bytes of a
//! single band covering the whole image.

mod common;

use std::path::PathBuf;

use common::{perturb, random_samples, skip_without_gpu, write_png};
use diffimg::internals::{AutoOptions, Kernel, ReportInternals, Side};
use diffimg::{
    Backend, Depth, Error, FlipOptions, GpuOptions, Layout, Options, PerceptualOptions, Report,
};

struct Pair {
    _dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    width: u32,
    height: u32,
}

/// Two random images; the second differs from the first in about one sample in five when they
/// share a layout, and everywhere otherwise.
fn pair(seed: u64, width: u32, height: u32, layout_a: Layout, layout_b: Layout) -> Pair {
    let change_every = (layout_a == layout_b).then_some(5);
    random_pair(seed, width, height, layout_a, layout_b, change_every)
}

fn random_pair(
    seed: u64,
    width: u32,
    height: u32,
    layout_a: Layout,
    layout_b: Layout,
    change_every: Option<usize>,
) -> Pair {
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    let pixels = (width * height) as usize;
    let sixteen = |l: Layout| l.depth == Depth::Sixteen;
    let sa = random_samples(
        &mut rng,
        pixels * layout_a.channels as usize,
        sixteen(layout_a),
    );
    let sb = if let Some(every) = change_every {
        perturb(&mut rng, &sa, every)
    } else {
        random_samples(
            &mut rng,
            pixels * layout_b.channels as usize,
            sixteen(layout_b),
        )
    };
    write_png(&a, width, height, layout_a, &sa);
    write_png(&b, width, height, layout_b, &sb);
    Pair {
        _dir: dir,
        a,
        b,
        width,
        height,
    }
}

/// Runs a comparison writing its diff image beside the pair; returns the report and the bytes.
fn run(
    pair: &Pair,
    backend: Backend,
    band_rows: u32,
    ignore_alpha: bool,
) -> Result<(Report, Vec<u8>), Error> {
    let diff = pair.a.with_file_name(format!("diff-{band_rows}.png"));
    let options = Options {
        backend,
        ignore_alpha,
        band_pixels: u64::from(band_rows * pair.width),
        diff_image: Some(diff.clone()),
        gpu: GpuOptions {
            max_tile: Some((16, 8)),
            batch_bytes: 0,
            ..GpuOptions::default()
        },
        ..Options::default()
    };
    let report = diffimg::compare(&pair.a, &pair.b, &options)?;
    let bytes = std::fs::read(&diff).unwrap();
    std::fs::remove_file(&diff).unwrap();
    Ok((report, bytes))
}

/// Asserts every band size on `backend` matches one band on the CPU. False when the GPU is
/// missing (and allowed to be).
fn assert_band_sizes_agree(pair: &Pair, backend: Backend, ignore_alpha: bool) -> bool {
    let (whole, whole_bytes) = run(pair, Backend::Cpu, pair.height, ignore_alpha).unwrap();
    for rows in [1, 2, 3, 7, pair.height - 1, pair.height, pair.height + 5]
        .into_iter()
        .filter(|&r| r > 0)
    {
        match run(pair, backend, rows, ignore_alpha) {
            Ok((report, bytes)) => {
                assert_eq!(
                    report.stats(),
                    whole.stats(),
                    "{backend:?}, {rows} rows per band"
                );
                assert_eq!(report.ratio().to_bits(), whole.ratio().to_bits());
                assert!(
                    bytes == whole_bytes,
                    "diff image differs: {backend:?}, {rows} rows per band"
                );
            }
            Err(Error::Gpu(why)) if backend == Backend::Gpu => {
                skip_without_gpu(&why);
                return false;
            }
            Err(e) => panic!("{e}"),
        }
    }
    true
}

#[test]
fn cpu_band_sizes_agree() {
    let p = pair(1, 37, 23, Layout::RGBA8, Layout::RGBA8);
    assert_band_sizes_agree(&p, Backend::Cpu, false);
    assert_band_sizes_agree(&p, Backend::Cpu, true);
    let p = pair(2, 19, 11, Layout::LA16, Layout::LA16);
    assert_band_sizes_agree(&p, Backend::Cpu, false);
}

#[test]
fn gpu_band_sizes_agree() {
    let p = pair(3, 37, 23, Layout::RGBA8, Layout::RGBA8);
    if assert_band_sizes_agree(&p, Backend::Gpu, false) {
        assert_band_sizes_agree(&p, Backend::Gpu, true);
        assert_band_sizes_agree(
            &pair(4, 19, 11, Layout::LA16, Layout::LA16),
            Backend::Gpu,
            false,
        );
        assert_band_sizes_agree(
            &pair(5, 21, 9, Layout::L8, Layout::RGB8),
            Backend::Gpu,
            false,
        );
    }
}

#[test]
fn mixed_layouts_promote_in_every_band() {
    let p = pair(6, 21, 9, Layout::L8, Layout::RGB8);
    assert_band_sizes_agree(&p, Backend::Cpu, false);
    let p = pair(7, 13, 6, Layout::RGB8, Layout::LA16);
    assert_band_sizes_agree(&p, Backend::Cpu, true);
}

#[test]
fn one_row_and_one_column() {
    for (w, h) in [(57, 1), (1, 43), (1, 1)] {
        let p = pair(8, w, h, Layout::RGBA8, Layout::RGBA8);
        assert_band_sizes_agree(&p, Backend::Cpu, false);
        if !assert_band_sizes_agree(&p, Backend::Gpu, false) {
            return;
        }
    }
}

#[test]
fn auto_matches_cpu() {
    let p = pair(9, 40, 30, Layout::RGBA8, Layout::RGBA8);
    let (cpu, cpu_bytes) = run(&p, Backend::Cpu, 4, false).unwrap();
    let (auto, auto_bytes) = run(&p, Backend::Auto, 4, false).unwrap();
    assert_eq!(auto.stats(), cpu.stats());
    assert!(auto_bytes == cpu_bytes);
}

#[test]
fn gpu_reports_its_adapter() {
    let p = pair(10, 8, 8, Layout::RGBA8, Layout::RGBA8);
    match run(&p, Backend::Gpu, 8, false) {
        Ok((report, _)) => match report.engine() {
            diffimg::internals::EngineInfo::Gpu { adapter, backend } => {
                assert!(!adapter.is_empty());
                assert!(!backend.is_empty());
                assert_eq!(report.bands().0, 1);
            }
            other => panic!("expected the GPU engine, got {other:?}"),
        },
        Err(Error::Gpu(why)) => skip_without_gpu(&why),
        Err(e) => panic!("{e}"),
    }
}

/// The GPU engine gets bands of its batch size, not the CPU's, with the same figures and diff.
#[test]
fn gpu_takes_bands_of_its_batch_size() {
    let p = pair(12, 20, 30, Layout::RGBA8, Layout::RGBA8);
    let (cpu, cpu_bytes) = run(&p, Backend::Cpu, 1, false).unwrap();
    let diff = p.a.with_file_name("diff-batch.png");
    let options = Options {
        backend: Backend::Gpu,
        band_pixels: 20,
        diff_image: Some(diff.clone()),
        // Seven rows of 20 RGBA pixels, in tiles of 16x8 so that a band spans tiles.
        gpu: GpuOptions {
            batch_bytes: 7 * 20 * 4,
            max_tile: Some((16, 8)),
            ..GpuOptions::default()
        },
        ..Options::default()
    };
    match diffimg::compare(&p.a, &p.b, &options) {
        Ok(report) => {
            assert_eq!(report.bands().0, 5, "30 rows in bands of 7");
            assert_eq!(report.stats(), cpu.stats());
            assert!(
                std::fs::read(&diff).unwrap() == cpu_bytes,
                "diff image differs"
            );
        }
        Err(Error::Gpu(why)) => skip_without_gpu(&why),
        Err(e) => panic!("{e}"),
    }
}

/// `auto` with a GPU (here any adapter, the software one included) measures both engines on
/// the first bands of each kernel, then keeps to the faster; the figures and the diff image
/// are the CPU's whichever engine took which band, and every band is counted once.
#[test]
fn auto_measures_both_engines_then_keeps_one() {
    let p = pair(13, 20, 60, Layout::RGBA8, Layout::RGBA8);
    let diff = |name: &str| p.a.with_file_name(format!("diff-{name}.png"));
    let options = |backend, name: &str| Options {
        backend,
        auto: AutoOptions {
            min_pixels: 0,
            any_adapter: true,
        },
        perceptual: Some(PerceptualOptions {
            threshold: 0.1,
            aa: true,
        }),
        band_pixels: 20,
        diff_image: Some(diff(name)),
        // Bands of three rows: twenty of them.
        gpu: GpuOptions {
            batch_bytes: 3 * 20 * 4,
            ..GpuOptions::default()
        },
        ..Options::default()
    };
    let cpu = diffimg::compare(&p.a, &p.b, &options(Backend::Cpu, "cpu")).unwrap();
    assert!(
        cpu.measured().is_empty(),
        "nothing to measure without a GPU"
    );
    let auto = diffimg::compare(&p.a, &p.b, &options(Backend::Auto, "auto")).unwrap();
    if auto.bands().0 == 0 {
        return skip_without_gpu(&auto.notes().join("; "));
    }
    assert_eq!(auto.stats(), cpu.stats());
    assert_eq!(auto.perceptual(), cpu.perceptual());
    assert!(std::fs::read(diff("auto")).unwrap() == std::fs::read(diff("cpu")).unwrap());
    assert_eq!(auto.bands().0 + auto.bands().1, 20);
    let kernels: Vec<_> = auto.measured().iter().map(|m| m.kernel).collect();
    assert_eq!(kernels, [Kernel::Ratio, Kernel::Perceptual]);
    for m in auto.measured() {
        let (gpu, cpu) = (m.gpu.unwrap(), m.cpu.unwrap());
        assert!(gpu > 0.0 && cpu > 0.0, "{m:?}");
        let faster = if gpu > cpu { Side::Gpu } else { Side::Cpu };
        assert_eq!(m.chosen, Some(faster), "{m:?}");
    }
    // The first ratio band warms the GPU, then one or two timed bands each, then the choice.
    let ratio = auto.measured()[0];
    match ratio.chosen {
        Some(Side::Gpu) => assert!((1..=2).contains(&auto.bands().1), "{auto:?}"),
        _ => assert!((2..=3).contains(&auto.bands().0), "{auto:?}"),
    }
    let json: serde_json::Value = serde_json::from_str(&auto.to_json()).unwrap();
    let measured = &json["engine"]["measured"];
    assert_eq!(measured[0]["kernel"], "ratio");
    assert_eq!(measured[1]["kernel"], "perceptual");
    assert!(measured[0]["gpu_mpixels_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(measured[0]["chosen"], ratio.chosen.unwrap().name());
}

/// `auto` measures the render metrics' kernels apart, as it does the others, and their figures
/// are the CPU's within the engines' tolerances whichever engine took which band. Bands of a
/// narrow image hold 32 times the rows the filters reach: here 160 rows, for SSIM's 5.
#[test]
fn auto_measures_the_render_metrics() {
    let p = pair(17, 24, 1600, Layout::RGB8, Layout::RGB8);
    let options = |backend| Options {
        backend,
        auto: AutoOptions {
            min_pixels: 0,
            any_adapter: true,
        },
        band_pixels: 24,
        gpu: GpuOptions {
            batch_bytes: 24 * 160 * 3,
            ..GpuOptions::default()
        },
        flip: Some(FlipOptions {
            ppd: 1.0,
            ..FlipOptions::default()
        }),
        ssim: true,
        ..Options::default()
    };
    let cpu = diffimg::compare(&p.a, &p.b, &options(Backend::Cpu)).unwrap();
    assert_eq!(cpu.bands().1, 10);
    let auto = diffimg::compare(&p.a, &p.b, &options(Backend::Auto)).unwrap();
    assert_eq!(auto.bands().0 + auto.bands().1, 10);
    if auto.bands().0 == 0 {
        return skip_without_gpu(&auto.notes().join("; "));
    }
    let kernels: Vec<_> = auto.measured().iter().map(|m| m.kernel).collect();
    assert_eq!(kernels, [Kernel::Ratio, Kernel::Flip, Kernel::Ssim]);
    for m in auto.measured() {
        assert!(m.gpu.unwrap() > 0.0 && m.cpu.unwrap() > 0.0, "{m:?}");
    }
    let (flip, cpu_flip) = (auto.flip().unwrap(), cpu.flip().unwrap());
    assert!(
        (flip.mean - cpu_flip.mean).abs() < 1e-6,
        "{flip:?} {cpu_flip:?}"
    );
    assert!(flip.mean > 0.0);
    let (ssim, cpu_ssim) = (auto.ssim().unwrap(), cpu.ssim().unwrap());
    assert!(
        (ssim.mean - cpu_ssim.mean).abs() < 1e-6,
        "{ssim:?} {cpu_ssim:?}"
    );
    assert!(ssim.mean < 1.0);
}

/// The band path's reading and the image crate's whole-image decoding agree.
#[test]
fn streamed_png_decodes_like_the_image_crate() {
    let p = pair(11, 33, 17, Layout::RGBA8, Layout::RGBA8);
    let (report, _) = run(&p, Backend::Cpu, 5, false).unwrap();
    let a = image::open(&p.a).unwrap().to_rgba8();
    let b = image::open(&p.b).unwrap().to_rgba8();
    let mut sums = [0u128; 4];
    for (pa, pb) in a.pixels().zip(b.pixels()) {
        for (sum, (x, y)) in sums.iter_mut().zip(pa.0.iter().zip(pb.0)) {
            *sum += u128::from(x.abs_diff(y));
        }
    }
    assert_eq!(report.stats().sums, sums);
}

/// A diff of noise is stored uncompressed, whatever the band size; the file still decodes to
/// the diff.
#[test]
fn incompressible_diff_is_stored_alike_for_every_band_size() {
    let (width, height) = (640, 480);
    let p = random_pair(12, width, height, Layout::RGBA8, Layout::RGBA8, None);
    let (whole, bytes) = run(&p, Backend::Cpu, height, false).unwrap();
    let raw = (width * height * 4) as usize;
    assert!(
        bytes.len() > raw,
        "stored: {} bytes for {raw} of pixels",
        bytes.len()
    );
    for rows in [1, 7, 333] {
        let (report, other) = run(&p, Backend::Cpu, rows, false).unwrap();
        assert_eq!(report.stats(), whole.stats());
        assert!(other == bytes, "{rows} rows per band");
    }
    let diff = image::load_from_memory(&bytes).unwrap().to_rgba8();
    let (a, b) = (
        image::open(&p.a).unwrap().to_rgba8(),
        image::open(&p.b).unwrap().to_rgba8(),
    );
    let first = (a.as_raw()[0].abs_diff(b.as_raw()[0]), diff.as_raw()[0]);
    assert_eq!(first.0, first.1);
}

/// Mostly equal rows, which the CPU engine skips with a comparison, among a few that differ.
#[test]
fn sparse_changes_agree() {
    for alpha in [false, true] {
        let p = random_pair(13, 37, 41, Layout::RGBA8, Layout::RGBA8, Some(1500));
        assert_band_sizes_agree(&p, Backend::Cpu, alpha);
        if !assert_band_sizes_agree(&p, Backend::Gpu, alpha) {
            return;
        }
    }
}
