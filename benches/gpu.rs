//! GPU benchmark, for running on a machine with a real adapter: the GPU engine's band
//! throughput against the adapter's memory bandwidth, and whole comparisons (`gpu`, `auto`,
//! `cpu`) against the floor of decoding both PNG files. `auto (any adapter)` lets `auto` measure
//! whatever adapter there is, a software one included, against the CPU: what its measurement
//! costs shows against `cpu` in the same run.
//!
//! `cargo bench --bench gpu`. wgpu does not tell an adapter's memory bandwidth: give it in GB/s
//! in `DIFFIMG_GPU_BANDWIDTH` to have the throughput shown as a share of it. `BENCH_GPU_SIZE`
//! sets the side of the square noise pair (default 4096; cached under `target/bench-data/`),
//! `BENCH_RUNS` the runs per row (default 5; medians are shown). Band throughput counts the
//! bytes of both images per second through `diff_band` (upload, compute pass and read-back of
//! the figures; the compute pass alone is not timed apart). The render metrics' kernels are timed
//! the same way on both engines (`flip_band`, `ssim_band` on the GPU engine and on the CPU
//! engine, the same band), with the largest gap between their values, and as whole comparisons
//! (`--flip`, `--ssim` with `gpu` and `cpu`) with their means. Without `--bench` (as `cargo test
//! --benches` runs it) it makes one quick pass over a 256x256 pair.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::BoxError;
use common::floor::{decode_pair, decode_rows};
use diffimg::internals::{
    AutoOptions, Band, CpuEngine, Engine, FlipRule, GpuEngine, ReportInternals, SsimRule,
};
use diffimg::{Backend, FlipOptions, GpuOptions, Layout, Options, Samples};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if let Err(e) = run(full) {
        eprintln!("bench error: {e}");
        std::process::exit(1);
    }
}

fn env_number(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.parse().ok()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Median of `runs` timed calls of `job`.
fn time(runs: usize, mut job: impl FnMut() -> Result<(), BoxError>) -> Result<Duration, BoxError> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        job()?;
        times.push(start.elapsed());
    }
    Ok(median(times))
}

fn noise(side: u32, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..side as usize * side as usize * 4)
        .map(|_| rng.u8(..))
        .collect()
}

/// The noise pair of `side` x `side` RGBA pixels as PNG files, written once.
fn pair(side: u32) -> Result<[PathBuf; 2], BoxError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let paths = ["a", "b"].map(|n| dir.join(format!("gpu-{side}-v1-{n}.png")));
    for (seed, path) in paths.iter().enumerate() {
        if !path.exists() {
            let image = image::RgbaImage::from_raw(side, side, noise(side, seed as u64))
                .ok_or("noise of the wrong size")?;
            image.save(path)?;
        }
    }
    Ok(paths)
}

fn run(full: bool) -> Result<(), BoxError> {
    let side = if full {
        env_number("BENCH_GPU_SIZE").map_or(4096, |s| s as u32)
    } else {
        256
    };
    let runs = if full {
        env_number("BENCH_RUNS").map_or(5, |r| r as usize).max(1)
    } else {
        1
    };
    let start = Instant::now();
    let mut engine = match GpuEngine::new(GpuOptions::default()) {
        Ok(engine) => engine,
        Err(e) => {
            println!("no GPU: {e}");
            return Ok(());
        }
    };
    println!(
        "adapter: {:?}, started in {:.2?}",
        engine.info(),
        start.elapsed()
    );

    let band = Band {
        width: side,
        y: 0,
        rows: side,
        halo_above: 0,
        halo_below: 0,
        layout: Layout::RGBA8,
        a: Samples::U8(noise(side, 0)),
        b: Samples::U8(noise(side, 1)),
    };
    let start = Instant::now();
    engine.diff_band(&band, false, None)?;
    println!("first band (builds the pipeline): {:.2?}", start.elapsed());
    let band_time = time(runs, || {
        engine
            .diff_band(&band, false, None)
            .map(drop)
            .map_err(Into::into)
    })?;
    let bytes = 2.0 * f64::from(side) * f64::from(side) * 4.0;
    let throughput = bytes / band_time.as_secs_f64() / 1e9;
    print!("band of {side}x{side} RGBA: {band_time:.2?}, {throughput:.2} GB/s of input");
    match env_number("DIFFIMG_GPU_BANDWIDTH") {
        Some(bandwidth) => println!(
            ", {:.1}% of {bandwidth} GB/s",
            100.0 * throughput / bandwidth
        ),
        None => println!(" (set DIFFIMG_GPU_BANDWIDTH to compare with the adapter's)"),
    }

    let [a, b] = pair(side)?;
    let floor = time(runs, || decode_pair(&a, &b, decode_rows))?;
    println!("decoding both files (floor): {floor:.2?}");
    let any_adapter = AutoOptions {
        min_pixels: 0,
        any_adapter: true,
    };
    for (name, backend, auto) in [
        ("gpu", Backend::Gpu, AutoOptions::default()),
        ("auto", Backend::Auto, AutoOptions::default()),
        ("auto (any adapter)", Backend::Auto, any_adapter),
        ("cpu", Backend::Cpu, AutoOptions::default()),
    ] {
        let options = Options {
            backend,
            auto,
            ..Options::default()
        };
        let mut engine = String::new();
        let took = time(runs, || {
            let report = diffimg::compare(&a, &b, &options)?;
            engine = format!(
                "{:?}, bands {} gpu {} cpu",
                report.engine(),
                report.bands().0,
                report.bands().1
            );
            for m in report.measured() {
                let rate = |r: Option<f64>| r.map_or("-".into(), |r| format!("{:.0}", r / 1e6));
                engine += &format!(
                    "; measured {}: gpu {} cpu {} Mpixel/s, chose {}",
                    m.kernel.name(),
                    rate(m.gpu),
                    rate(m.cpu),
                    m.chosen.map_or("nothing", |s| s.name())
                );
            }
            Ok(())
        })?;
        println!(
            "{name}: {took:.2?}, {:.2}x the floor ({engine})",
            took.as_secs_f64() / floor.as_secs_f64()
        );
    }
    render_kernels(&mut engine, &band, runs)?;
    render_comparisons(&a, &b, floor, runs)
}

/// Which render-metric kernel a band or comparison runs.
#[derive(Clone, Copy)]
enum Metric {
    Flip,
    Ssim,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::Flip => "flip",
            Metric::Ssim => "ssim",
        }
    }

    fn band(
        self,
        engine: &mut dyn Engine,
        band: &Band,
        out: &mut Vec<f32>,
    ) -> Result<(), BoxError> {
        match self {
            Metric::Flip => engine.flip_band(band, &FlipRule::default(), out)?,
            Metric::Ssim => engine.ssim_band(band, &SsimRule { range: 255.0 }, out)?,
        }
        Ok(())
    }
}

/// The FLIP and SSIM kernels on one band, GPU engine against CPU engine: time per band, pixel
/// throughput, and the largest gap between the values they give.
fn render_kernels(gpu: &mut GpuEngine, band: &Band, runs: usize) -> Result<(), BoxError> {
    let pixels = f64::from(band.width) * f64::from(band.rows);
    let mut cpu = CpuEngine::default();
    for metric in [Metric::Flip, Metric::Ssim] {
        let (mut on_gpu, mut on_cpu) = (Vec::new(), Vec::new());
        let start = Instant::now();
        metric.band(gpu, band, &mut on_gpu)?;
        let first = start.elapsed();
        let gpu_time = time(runs, || metric.band(gpu, band, &mut on_gpu))?;
        let cpu_time = time(runs, || metric.band(&mut cpu, band, &mut on_cpu))?;
        let gap = on_gpu
            .iter()
            .zip(&on_cpu)
            .map(|(g, c)| (g - c).abs())
            .fold(0.0f32, f32::max);
        let rate = |t: Duration| pixels / t.as_secs_f64() / 1e6;
        println!(
            "{} band: gpu {gpu_time:.2?} ({:.0} Mpixel/s; first {first:.2?}), cpu {cpu_time:.2?} \
             ({:.0} Mpixel/s), gpu/cpu time {:.2}x, largest gap {gap:.2e}",
            metric.name(),
            rate(gpu_time),
            rate(cpu_time),
            gpu_time.as_secs_f64() / cpu_time.as_secs_f64()
        );
    }
    Ok(())
}

/// Whole `--flip` and `--ssim` comparisons of the pair on each engine, with their means.
fn render_comparisons(a: &Path, b: &Path, floor: Duration, runs: usize) -> Result<(), BoxError> {
    for metric in [Metric::Flip, Metric::Ssim] {
        for (name, backend) in [("gpu", Backend::Gpu), ("cpu", Backend::Cpu)] {
            let options = Options {
                backend,
                flip: matches!(metric, Metric::Flip).then(FlipOptions::default),
                ssim: matches!(metric, Metric::Ssim),
                ..Options::default()
            };
            let mut mean = None;
            let took = time(runs, || {
                let report = diffimg::compare(a, b, &options)?;
                mean = match metric {
                    Metric::Flip => report.flip().map(|f| f.mean),
                    Metric::Ssim => report.ssim().map(|s| s.mean),
                };
                Ok(())
            })?;
            println!(
                "--{} {name}: {took:.2?}, {:.2}x the floor (mean {})",
                metric.name(),
                took.as_secs_f64() / floor.as_secs_f64(),
                mean.map_or("-".into(), |m| format!("{m:.7}"))
            );
        }
    }
    Ok(())
}
