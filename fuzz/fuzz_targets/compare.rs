//! Two encoded images in one input: the first two bytes give the length of the first image
//! (little-endian), the third selects options, the rest is split there. Every input must give
//! a report or an error: never a panic, an abort, a hang or an allocation beyond the limits.
#![no_main]

use diffimg::{Backend, Options, PixelLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let first_len = usize::from(u16::from_le_bytes([head[0], head[1]])).min(rest.len());
    let (a, b) = rest.split_at(first_len);
    let flags = head[2];
    let options = Options {
        backend: Backend::Cpu,
        // Small enough that a hostile header cannot make the fuzzer run out of memory.
        max_pixels: PixelLimits::all(1 << 22),
        ignore_alpha: flags & 1 != 0,
        resize: flags & 2 != 0,
        // Small bands, so that images of a few rows still cross band boundaries.
        band_pixels: if flags & 4 != 0 { 64 } else { 1 << 19 },
        ..Default::default()
    };
    if let Ok(report) = diffimg::compare_bytes(a, b, &options) {
        let pixels = u64::from(report.width) * u64::from(report.height);
        let max = report.layout.depth.max_value();
        let stats = &report.stats;
        let ratio = report.ratio();
        assert!((0.0..=1.0).contains(&ratio), "ratio {ratio} out of range");
        assert!(stats.sums.iter().all(|&s| s <= pixels * u64::from(max)));
        assert!(stats.differing <= pixels && stats.max <= max);
        assert_eq!(stats.differing == 0, report.sum() == 0);
        assert_eq!(stats.bounds.is_some(), stats.differing > 0);
        if let Some(b) = stats.bounds {
            assert!(b.x0 <= b.x1 && b.y0 <= b.y1 && b.x0 < report.width && b.y0 < report.height);
        }
    }
});
