//! The GPU engine against hand-computed figures and against the CPU engine, bit for bit: every
//! layout and depth, alpha counted or not, with and without a diff, odd and tiny sizes, halo
//! rows, tile edges in both directions, and one engine reused across bands.
//!
//! Without an adapter these tests are skipped, unless `DIFFIMG_REQUIRE_GPU=1`.

mod common;

use common::{perturb, random_samples, skip_without_gpu};
use diffimg::internals::{Band, Bounds, CpuEngine, Engine, EngineInfo, GpuEngine, Stats, probe};
use diffimg::{Depth, GpuOptions, Layout, MaxAt, Samples};

const DEPTHS: [Depth; 2] = [Depth::Eight, Depth::Sixteen];

/// An engine, or `None` (after saying so) when there is no adapter and none is required.
fn engine(options: GpuOptions) -> Option<GpuEngine> {
    if let Err(e) = probe() {
        skip_without_gpu(&e.to_string());
        return None;
    }
    Some(GpuEngine::new(options).expect("an adapter exists, so the GPU engine starts"))
}

/// How `b` relates to `a`.
#[derive(Clone, Copy, Debug)]
enum Content {
    /// About one sample in 40 changed: many equal pixels.
    MostlyEqual,
    /// Unrelated noise.
    Random,
    Identical,
}

/// A band of `rows` counted rows at image row `y`, with halo rows of noise around them.
struct Spec {
    layout: Layout,
    width: u32,
    rows: u32,
    y: u32,
    halo: (u32, u32),
    content: Content,
}

impl Spec {
    fn new(layout: Layout, width: u32, rows: u32, content: Content) -> Spec {
        Spec {
            layout,
            width,
            rows,
            y: 0,
            halo: (0, 0),
            content,
        }
    }

    fn band(&self, rng: &mut fastrand::Rng) -> Band {
        let row_len = self.width as usize * self.layout.channels as usize;
        let sixteen = self.layout.depth == Depth::Sixteen;
        let noise = |rng: &mut fastrand::Rng, rows: u32| {
            random_samples(rng, rows as usize * row_len, sixteen)
        };
        let a = noise(rng, self.rows);
        let b = match self.content {
            Content::MostlyEqual => perturb(rng, &a, 40),
            Content::Random => noise(rng, self.rows),
            Content::Identical => a.clone(),
        };
        let (above, below) = self.halo;
        let mut surround =
            |counted: Samples| concat(&[noise(rng, above), counted, noise(rng, below)]);
        Band {
            width: self.width,
            y: self.y,
            rows: self.rows,
            halo_above: above,
            halo_below: below,
            layout: self.layout,
            a: surround(a),
            b: surround(b),
        }
    }
}

fn concat(parts: &[Samples]) -> Samples {
    let mut out = Samples::zeroed(parts[0].depth(), 0);
    for part in parts {
        out.extend_from(part, 0..part.len());
    }
    out
}

fn layouts() -> impl Iterator<Item = Layout> {
    DEPTHS
        .into_iter()
        .flat_map(|depth| (1..=4).map(move |channels| Layout::new(channels, depth)))
}

/// Asserts that the GPU engine's figures and diff equal the CPU engine's; returns them.
fn assert_matches_cpu(gpu: &mut GpuEngine, band: &Band, ignore_alpha: bool, diff: bool) -> Stats {
    let what = format!(
        "{} {}x{} y {} halo {}/{} ignore_alpha {ignore_alpha} diff {diff}",
        band.layout, band.width, band.rows, band.y, band.halo_above, band.halo_below
    );
    let mut cpu_diff = Samples::zeroed(band.layout.depth, 0);
    // Stale contents that the engine must replace.
    let mut gpu_diff = Samples::U8(vec![7; 5]);
    let expected = CpuEngine::default()
        .diff_band(band, ignore_alpha, diff.then_some(&mut cpu_diff))
        .unwrap();
    let got = gpu
        .diff_band(band, ignore_alpha, diff.then_some(&mut gpu_diff))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(got, expected, "{what}");
    if diff {
        assert_same_samples(&gpu_diff, &cpu_diff, &what);
    } else {
        assert_eq!(
            gpu_diff,
            Samples::U8(vec![7; 5]),
            "{what}: no diff asked for"
        );
    }
    got
}

/// Compares sample buffers, naming the first difference rather than printing both.
fn assert_same_samples(got: &Samples, expected: &Samples, what: &str) {
    assert_eq!(got.depth(), expected.depth(), "{what}: depth");
    assert_eq!(got.len(), expected.len(), "{what}: length");
    let (got, expected) = (got.as_bytes(), expected.as_bytes());
    if let Some(i) = got.iter().zip(expected).position(|(g, e)| g != e) {
        panic!(
            "{what}: diff byte {i} is {}, expected {}",
            got[i], expected[i]
        );
    }
}

#[test]
fn hand_computed_rgba_2x2() {
    let Some(mut gpu) = engine(GpuOptions::default()) else {
        return;
    };
    let band = Band {
        width: 2,
        y: 5,
        rows: 2,
        halo_above: 0,
        halo_below: 0,
        layout: Layout::RGBA8,
        #[rustfmt::skip]
        a: Samples::U8(vec![
            10, 20, 30, 255,   0, 0, 0, 255,
            100, 100, 100, 0,  1, 2, 3, 4,
        ]),
        #[rustfmt::skip]
        b: Samples::U8(vec![
            10, 20, 30, 255,   0, 0, 0, 200,
            90, 130, 100, 0,   1, 2, 3, 4,
        ]),
    };
    let mut diff = Samples::U8(Vec::new());
    let stats = gpu.diff_band(&band, false, Some(&mut diff)).unwrap();
    assert_eq!(
        stats,
        Stats {
            sums: [10, 30, 0, 55],
            squares: [100, 900, 0, 3025],
            differing: 2,
            max: 55,
            max_at: Some(MaxAt {
                x: 1,
                y: 5,
                channel: 3
            }),
            bounds: Some(Bounds {
                x0: 0,
                y0: 5,
                x1: 1,
                y1: 6
            }),
            nan: 0,
            inf: 0,
        }
    );
    #[rustfmt::skip]
    assert_eq!(diff, Samples::U8(vec![
        0, 0, 0, 0,    0, 0, 0, 55,
        10, 30, 0, 0,  0, 0, 0, 0,
    ]));

    // Without alpha, only the bottom-left pixel differs, and the diff is opaque.
    let stats = gpu.diff_band(&band, true, Some(&mut diff)).unwrap();
    assert_eq!(
        stats,
        Stats {
            sums: [10, 30, 0, 55],
            squares: [100, 900, 0, 3025],
            differing: 1,
            max: 30,
            max_at: Some(MaxAt {
                x: 0,
                y: 6,
                channel: 1
            }),
            bounds: Some(Bounds {
                x0: 0,
                y0: 6,
                x1: 0,
                y1: 6
            }),
            nan: 0,
            inf: 0,
        }
    );
    #[rustfmt::skip]
    assert_eq!(diff, Samples::U8(vec![
        0, 0, 0, 255,    0, 0, 0, 255,
        10, 30, 0, 255,  0, 0, 0, 255,
    ]));
}

#[test]
fn sums_beyond_u32_are_exact() {
    let Some(mut gpu) = engine(GpuOptions::default()) else {
        return;
    };
    // 300 x 300 pixels differing by 65535 in every channel: 5,898,150,000 per channel.
    let (width, rows) = (300u32, 300u32);
    let len = (width * rows * 4) as usize;
    let band = Band {
        width,
        y: 0,
        rows,
        halo_above: 0,
        halo_below: 0,
        layout: Layout::RGBA16,
        a: Samples::U16(vec![0; len]),
        b: Samples::U16(vec![u16::MAX; len]),
    };
    let sum = 300 * 300 * 65535;
    assert!(sum > u64::from(u32::MAX));
    // Past 2^32 within each workgroup: the carries into the high words count.
    let squares = 300 * 300 * 65535u128 * 65535;
    let stats = gpu.diff_band(&band, false, None).unwrap();
    assert_eq!(
        stats,
        Stats {
            sums: [sum.into(); 4],
            squares: [squares; 4],
            differing: 90_000,
            max: 65535,
            max_at: Some(MaxAt {
                x: 0,
                y: 0,
                channel: 0
            }),
            bounds: Some(Bounds {
                x0: 0,
                y0: 0,
                x1: 299,
                y1: 299
            }),
            nan: 0,
            inf: 0,
        }
    );
}

#[test]
fn every_layout_and_option_matches_cpu() {
    let Some(mut gpu) = engine(GpuOptions::default()) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(1);
    for layout in layouts() {
        for content in [Content::MostlyEqual, Content::Random] {
            let band = Spec::new(layout, 37, 53, content).band(&mut rng);
            for ignore_alpha in [false, true] {
                for diff in [false, true] {
                    assert_matches_cpu(&mut gpu, &band, ignore_alpha, diff);
                }
            }
        }
    }
}

#[test]
fn tiny_and_thin_bands_match_cpu() {
    let Some(mut gpu) = engine(GpuOptions::default()) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(2);
    for layout in layouts() {
        for (width, rows) in [(1, 1), (1, 61), (67, 1), (2, 3), (17, 2)] {
            let band = Spec::new(layout, width, rows, Content::MostlyEqual).band(&mut rng);
            assert_matches_cpu(&mut gpu, &band, false, true);
            let band = Spec::new(layout, width, rows, Content::Random).band(&mut rng);
            assert_matches_cpu(&mut gpu, &band, true, true);
        }
    }
}

#[test]
fn identical_images_have_no_bounds() {
    let Some(mut gpu) = engine(GpuOptions {
        max_tile: Some((16, 8)),
        ..GpuOptions::default()
    }) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(3);
    for layout in layouts() {
        let band = Spec::new(layout, 41, 19, Content::Identical).band(&mut rng);
        let stats = assert_matches_cpu(&mut gpu, &band, false, true);
        assert_eq!(stats, Stats::default(), "{layout}");
    }
}

#[test]
fn halo_rows_are_not_counted() {
    let Some(mut gpu) = engine(GpuOptions {
        max_tile: Some((16, 8)),
        ..GpuOptions::default()
    }) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(4);
    for layout in layouts() {
        for content in [Content::MostlyEqual, Content::Identical] {
            let spec = Spec {
                y: 1000,
                halo: (3, 2),
                ..Spec::new(layout, 29, 13, content)
            };
            let band = spec.band(&mut rng);
            let with_halo = assert_matches_cpu(&mut gpu, &band, false, true);
            // The same counted rows without halo give the same figures.
            let range = band.counted();
            let bare = Band {
                halo_above: 0,
                halo_below: 0,
                a: slice(&band.a, range.clone()),
                b: slice(&band.b, range),
                ..band
            };
            let mut diff = Samples::U8(Vec::new());
            assert_eq!(
                gpu.diff_band(&bare, false, Some(&mut diff)).unwrap(),
                with_halo
            );
            if let (Content::MostlyEqual, Some(bounds)) = (content, with_halo.bounds) {
                assert!(
                    bounds.y0 >= 1000 && bounds.y1 < 1013,
                    "{layout}: {bounds:?}"
                );
            }
        }
    }
}

fn slice(samples: &Samples, range: std::ops::Range<usize>) -> Samples {
    let mut out = Samples::zeroed(samples.depth(), 0);
    out.extend_from(samples, range);
    out
}

#[test]
fn tile_edges_in_both_directions_match_cpu() {
    let Some(mut gpu) = engine(GpuOptions {
        max_tile: Some((16, 8)),
        ..GpuOptions::default()
    }) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(5);
    for layout in layouts() {
        for (width, rows) in [(45, 29), (16, 8), (33, 17)] {
            let spec = Spec {
                y: 7,
                ..Spec::new(layout, width, rows, Content::MostlyEqual)
            };
            let band = spec.band(&mut rng);
            for ignore_alpha in [false, true] {
                assert_matches_cpu(&mut gpu, &band, ignore_alpha, true);
            }
            assert_matches_cpu(&mut gpu, &band, false, false);
        }
    }
}

#[test]
fn one_difference_in_a_far_tile_sets_exact_bounds() {
    let Some(mut gpu) = engine(GpuOptions {
        max_tile: Some((16, 8)),
        ..GpuOptions::default()
    }) else {
        return;
    };
    let layout = Layout::RGB8;
    let (width, rows) = (50u32, 30u32);
    let a = Samples::U8(vec![9; (width * rows * 3) as usize]);
    let mut b = a.clone();
    if let Samples::U8(v) = &mut b {
        // Pixel (37, 21), green channel: in tile column 2, tile row 2.
        v[((21 * width + 37) * 3 + 1) as usize] = 12;
    }
    let band = Band {
        width,
        y: 100,
        rows,
        halo_above: 0,
        halo_below: 0,
        layout,
        a,
        b,
    };
    let stats = assert_matches_cpu(&mut gpu, &band, false, true);
    assert_eq!(
        stats,
        Stats {
            sums: [0, 3, 0, 0],
            squares: [0, 9, 0, 0],
            differing: 1,
            max: 3,
            max_at: Some(MaxAt {
                x: 37,
                y: 121,
                channel: 1
            }),
            bounds: Some(Bounds {
                x0: 37,
                y0: 121,
                x1: 37,
                y1: 121
            }),
            nan: 0,
            inf: 0,
        }
    );
}

#[test]
fn one_engine_serves_a_sequence_of_bands() {
    let Some(mut gpu) = engine(GpuOptions::default()) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(6);
    let rgba8 = Layout::RGBA8;
    let sequence = [
        (rgba8, 8, 4, false),
        (rgba8, 8, 4, true),
        (rgba8, 64, 40, false),
        (rgba8, 64, 40, true),
        (rgba8, 5, 90, true),
        (Layout::LA16, 70, 11, true),
        (Layout::L8, 3, 3, false),
        (rgba8, 128, 33, true),
    ];
    for (i, (layout, width, rows, diff)) in sequence.into_iter().enumerate() {
        let spec = Spec {
            y: i as u32 * 10,
            ..Spec::new(layout, width, rows, Content::MostlyEqual)
        };
        assert_matches_cpu(&mut gpu, &spec.band(&mut rng), false, diff);
    }
}

#[test]
fn reports_the_adapter() {
    let Some(gpu) = engine(GpuOptions::default()) else {
        return;
    };
    let summary = probe().unwrap();
    assert_eq!(
        gpu.info(),
        EngineInfo::Gpu {
            adapter: summary.name.clone(),
            backend: summary.backend.clone()
        }
    );
    assert!(!summary.backend.is_empty());
}

#[test]
fn a_band_too_short_for_its_layout_is_an_error() {
    let Some(mut gpu) = engine(GpuOptions::default()) else {
        return;
    };
    let band = Band {
        width: 4,
        y: 0,
        rows: 4,
        halo_above: 0,
        halo_below: 0,
        layout: Layout::RGBA8,
        a: Samples::U8(vec![0; 10]),
        b: Samples::U8(vec![0; 64]),
    };
    assert!(gpu.diff_band(&band, false, None).is_err());
    // The engine still works afterwards.
    let mut rng = fastrand::Rng::with_seed(7);
    let band = Spec::new(Layout::RGBA8, 4, 4, Content::Random).band(&mut rng);
    assert_matches_cpu(&mut gpu, &band, false, true);
}
