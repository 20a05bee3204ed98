//! A GPU engine that fails leaves the process able to use the GPU again: after a lost device or
//! a hung submission, the next engine opens a new device and matches the CPU engine. In a
//! process of its own, since a lost device fails every comparison running on it.

mod common;

use std::time::{Duration, Instant};

use common::{perturb, random_samples, skip_without_gpu};
use diffimg::internals::{Band, CpuEngine, Engine, Fault, GpuEngine, probe};
use diffimg::{GpuOptions, Layout, Samples};

/// A band of two tiles or more under a 16x8 tile.
fn band() -> Band {
    let (width, rows) = (40, 20);
    let mut rng = fastrand::Rng::with_seed(9);
    let a = random_samples(&mut rng, width * rows * 4, false);
    let b = perturb(&mut rng, &a, 5);
    Band {
        width: width as u32,
        y: 0,
        rows: rows as u32,
        halo_above: 0,
        halo_below: 0,
        layout: Layout::RGBA8,
        a,
        b,
    }
}

fn options(fault: Option<Fault>) -> GpuOptions {
    GpuOptions {
        max_tile: Some((16, 8)),
        fault,
        timeout: Duration::from_millis(300),
        ..GpuOptions::default()
    }
}

/// A healthy engine's figures and diff equal the CPU engine's.
fn assert_recovered(band: &Band) {
    let mut gpu = GpuEngine::new(options(None)).expect("a new device after the failure");
    let (mut expected, mut got) = (Samples::U8(Vec::new()), Samples::U8(Vec::new()));
    let cpu = CpuEngine::default()
        .diff_band(band, false, Some(&mut expected))
        .unwrap();
    assert_eq!(gpu.diff_band(band, false, Some(&mut got)).unwrap(), cpu);
    assert!(got == expected, "diff pixels differ");
}

#[test]
fn lost_or_hung_device_is_replaced_on_the_next_engine() {
    if let Err(e) = probe() {
        return skip_without_gpu(&e.to_string());
    }
    let band = band();
    let mut lost = GpuEngine::new(options(Some(Fault::DeviceLost))).unwrap();
    // The device is lost after the first band: the next band fails, however the driver words
    // it, and so does the one after it. A new engine works.
    assert!(lost.diff_band(&band, false, None).is_ok());
    assert!(lost.diff_band(&band, false, None).is_err());
    assert!(lost.diff_band(&band, false, None).is_err());
    assert_recovered(&band);

    let mut hung = GpuEngine::new(options(Some(Fault::Hang))).unwrap();
    let start = Instant::now();
    let error = hung.diff_band(&band, false, None).unwrap_err().to_string();
    assert!(error.contains("did not finish within 0.3 s"), "{error}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_recovered(&band);
}
