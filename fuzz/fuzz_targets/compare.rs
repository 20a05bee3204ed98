//! Two encoded images in one input: the first two bytes give the length of the first image
//! (little-endian), the third selects options, the rest is split there. Every input must give
//! a report or an error: never a panic, an abort, a hang or an allocation beyond the limits.
//! Flag bits 3-5 choose a diff image format (or none); a diff image is complete and readable
//! after a report, and nothing is left in its folder after an error.
#![no_main]

use diffimg::internals::ReportInternals;
use diffimg::{Backend, Options, PixelLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let first_len = usize::from(u16::from_le_bytes([head[0], head[1]])).min(rest.len());
    let (a, b) = rest.split_at(first_len);
    let flags = head[2];
    const FORMATS: [&str; 8] = ["", "png", "bmp", "tiff", "pam", "ppm", "qoi", "gif"];
    let folder = tempfile::tempdir().expect("a temporary folder");
    let format = FORMATS[usize::from(flags >> 3 & 7)];
    let diff_image = (!format.is_empty()).then(|| folder.path().join(format!("diff.{format}")));
    let options = Options {
        backend: Backend::Cpu,
        // Small enough that a hostile header cannot make the fuzzer run out of memory.
        max_pixels: PixelLimits::all(1 << 22),
        ignore_alpha: flags & 1 != 0,
        resize: flags & 2 != 0,
        // Small bands, so that images of a few rows still cross band boundaries.
        band_pixels: if flags & 4 != 0 { 64 } else { 1 << 19 },
        diff_image: diff_image.clone(),
        ..Default::default()
    };
    let compared = diffimg::compare_bytes(a, b, &options);
    let left = std::fs::read_dir(folder.path()).map_or(0, |d| d.count());
    match (&compared, &diff_image) {
        (Ok(report), Some(path)) => {
            assert_eq!(left, 1, "only the diff image");
            let diff = image::open(path).expect("a readable diff image");
            assert_eq!((diff.width(), diff.height()), (report.width(), report.height()));
        }
        _ => assert_eq!(left, 0, "nothing left after an error"),
    }
    if let Ok(report) = compared {
        let pixels = u64::from(report.width()) * u64::from(report.height());
        let max = report.layout().depth.max_value();
        let stats = report.stats();
        let ratio = report.ratio();
        if report.layout().depth.is_float() {
            // Differences below 65536 (past it they are counted apart), 1.0 nominal.
            let most = u128::from(pixels) * 65536 * u128::from(max);
            assert!(ratio.is_finite() && ratio >= 0.0, "ratio {ratio} out of range");
            assert!(stats.sums.iter().all(|&s| s <= most));
            assert!(stats.nan + stats.inf <= pixels * 4);
        } else {
            assert!((0.0..=1.0).contains(&ratio), "ratio {ratio} out of range");
            let most = u128::from(pixels) * u128::from(max);
            assert!(stats.sums.iter().all(|&s| s <= most));
            assert!(stats.max <= max);
            assert_eq!(stats.differing == 0, report.sum() == 0);
        }
        assert!(stats.differing <= pixels);
        assert_eq!(stats.bounds.is_some(), stats.differing > 0);
        if let Some(b) = stats.bounds {
            assert!(b.x0 <= b.x1 && b.y0 <= b.y1 && b.x0 < report.width() && b.y0 < report.height());
        }
    }
});
