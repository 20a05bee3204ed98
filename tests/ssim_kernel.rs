//! The SSIM kernel against scikit-image (the fixtures of `fixtures/ssim/make.py`): each pixel's
//! SSIM per colour channel, and the mean over the pixels whose window lies in the image; bands
//! of every height with their halo rows against the whole image, bit for bit. Then the GPU
//! engine (f32) against the CPU engine (f64): the fixtures, flat pictures with a little noise,
//! and bands cut into tiles.
//!
//! Without an adapter the GPU tests are skipped, unless `DIFFIMG_REQUIRE_GPU=1`.

mod common;

use common::{fixture, skip_without_gpu};
use diffimg::internals::{Band, CpuEngine, Engine, GpuEngine, SsimRule, probe};
use diffimg::{Depth, GpuOptions, Layout, Samples};

/// Rows and columns of context on each side of a pixel.
const RADIUS: usize = 5;

/// One pair of images and scikit-image's figures for it.
struct Case {
    name: String,
    width: usize,
    height: usize,
    layout: Layout,
    range: f64,
    a: Samples,
    b: Samples,
    /// SSIM per pixel whose window lies in the image, per colour channel.
    map: Vec<f64>,
    /// The mean of `map` per colour channel.
    means: Vec<f64>,
}

impl Case {
    fn colours(&self) -> usize {
        if self.layout.channels >= 3 { 3 } else { 1 }
    }

    fn rule(&self) -> SsimRule {
        SsimRule { range: self.range }
    }

    /// Rows `y..y + rows` with up to `halo` rows of context on each side.
    fn band(&self, y: usize, rows: usize, halo: usize) -> Band {
        let above = halo.min(y);
        let below = halo.min(self.height - y - rows);
        let row_len = self.width * usize::from(self.layout.channels);
        let range = (y - above) * row_len..(y + rows + below) * row_len;
        let cut = |samples: &Samples| {
            let mut part = Samples::zeroed(self.layout.depth, 0);
            part.extend_from(samples, range.clone());
            part
        };
        Band {
            width: self.width as u32,
            y: y as u32,
            rows: rows as u32,
            halo_above: above as u32,
            halo_below: below as u32,
            layout: self.layout,
            a: cut(&self.a),
            b: cut(&self.b),
        }
    }

    fn whole(&self) -> Band {
        self.band(0, self.height, 0)
    }
}

fn read(name: &str) -> Vec<u8> {
    let path = fixture("ssim").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn samples(depth: Depth, bytes: &[u8]) -> Samples {
    match depth {
        Depth::Eight => Samples::U8(bytes.to_vec()),
        Depth::Sixteen => Samples::U16(
            bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect(),
        ),
        Depth::Float => Samples::F32(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
    }
}

fn cases() -> Vec<Case> {
    let table: serde_json::Value = serde_json::from_slice(&read("cases.json")).unwrap();
    let table = table.as_object().unwrap();
    assert_eq!(table.len(), 11, "every case of make.py");
    table
        .iter()
        .map(|(name, case)| {
            let number = |key: &str| case[key].as_f64().unwrap();
            let depth = match case["depth"].as_str().unwrap() {
                "u8" => Depth::Eight,
                "u16" => Depth::Sixteen,
                _ => Depth::Float,
            };
            let map = read(&format!("{name}.map.bin"))
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            Case {
                name: name.clone(),
                width: number("width") as usize,
                height: number("height") as usize,
                layout: Layout::new(number("channels") as u8, depth),
                range: number("range"),
                a: samples(depth, &read(&format!("{name}.a.bin"))),
                b: samples(depth, &read(&format!("{name}.b.bin"))),
                map,
                means: case["means"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_f64().unwrap())
                    .collect(),
            }
        })
        .collect()
}

fn ssim(band: &Band, rule: &SsimRule, parallel: bool) -> Vec<f32> {
    let mut out = vec![f32::NAN; 3];
    CpuEngine { parallel }
        .ssim_band(band, rule, &mut out)
        .unwrap();
    out
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn pixels_and_means_match_scikit_image() {
    for case in cases() {
        let (width, height, colours) = (case.width, case.height, case.colours());
        let out = ssim(&case.whole(), &case.rule(), true);
        assert_eq!(out.len(), width * height * colours, "{}", case.name);
        let inner = width - 2 * RADIUS;
        let mut sums = vec![0.0; colours];
        for y in 0..height {
            for x in 0..width {
                for c in 0..colours {
                    let got = out[(y * width + x) * colours + c];
                    let interior = (RADIUS..height - RADIUS).contains(&y)
                        && (RADIUS..width - RADIUS).contains(&x);
                    if !interior {
                        assert_eq!(got, 1.0, "{} ({x}, {y}) channel {c}", case.name);
                        continue;
                    }
                    let i = ((y - RADIUS) * inner + x - RADIUS) * colours + c;
                    let want = case.map[i];
                    let got = f64::from(got);
                    assert!(
                        (got - want).abs() < 1e-6,
                        "{} ({x}, {y}) channel {c}: {got} against {want}",
                        case.name
                    );
                    sums[c] += got;
                }
            }
        }
        let pixels = (inner * (height - 2 * RADIUS)) as f64;
        for (c, (sum, want)) in sums.iter().zip(&case.means).enumerate() {
            let mean = sum / pixels;
            assert!(
                (mean - want).abs() < 1e-6,
                "{} channel {c}: mean {mean} against {want}",
                case.name
            );
        }
    }
}

#[test]
fn bands_with_halo_rows_equal_the_whole_image() {
    for case in cases().iter().filter(|case| case.height > 11) {
        let rule = case.rule();
        let whole = ssim(&case.whole(), &rule, false);
        assert_eq!(bits(&ssim(&case.whole(), &rule, true)), bits(&whole));
        for rows in [1, 2, 3, 4, 5, 6, 11, 13] {
            let mut banded = Vec::new();
            for y in (0..case.height).step_by(rows) {
                let band = case.band(y, rows.min(case.height - y), RADIUS);
                banded.extend(ssim(&band, &rule, y % 2 == 0));
            }
            assert!(
                bits(&banded) == bits(&whole),
                "{}: bands of {rows} rows",
                case.name
            );
        }
    }
}

#[test]
fn too_few_halo_rows_or_columns_give_one() {
    let case = cases().into_iter().find(|c| c.name == "rgb8").unwrap();
    let rule = case.rule();
    // Four halo rows: only the middle counted row's window lies in the band.
    let row_len = case.width * 3;
    let whole = ssim(&case.whole(), &rule, true);
    let out = ssim(&case.band(10, 3, 4), &rule, true);
    assert!(out[..row_len].iter().all(|&s| s == 1.0));
    assert_eq!(
        bits(&out[row_len..2 * row_len]),
        bits(&whole[11 * row_len..12 * row_len])
    );
    assert!(out[2 * row_len..].iter().all(|&s| s == 1.0));
    assert!(whole[10 * row_len..13 * row_len].iter().any(|&s| s < 0.99));
    // Ten columns or ten rows: no window fits.
    for (width, height) in [(10, 30), (40, 10)] {
        let row_len = width * 3;
        let band = Band {
            width: width as u32,
            y: 0,
            rows: height as u32,
            halo_above: 0,
            halo_below: 0,
            layout: Layout::RGB8,
            a: Samples::U8(vec![0; row_len * height]),
            b: Samples::U8(vec![255; row_len * height]),
        };
        let out = ssim(&band, &rule, true);
        assert_eq!(out.len(), width * height * 3);
        assert!(out.iter().all(|&s| s == 1.0));
    }
}

/// A GPU engine whose tiles hold at most `max_rows` rows, or `None` (after saying so) when
/// there is no adapter and none is required.
fn gpu(max_rows: u32) -> Option<GpuEngine> {
    if let Err(e) = probe() {
        skip_without_gpu(&e.to_string());
        return None;
    }
    let options = GpuOptions {
        max_tile: Some((u32::MAX, max_rows)),
        ..GpuOptions::default()
    };
    Some(GpuEngine::new(options).expect("an adapter exists, so the GPU engine starts"))
}

/// Checks the GPU's SSIM of `band` against the CPU's: 1 where the window does not lie in the
/// band, each other value within 1e-5, and their mean per channel within 1e-6. Returns how many
/// pixels have a window.
fn assert_near_cpu(gpu: &mut GpuEngine, band: &Band, rule: &SsimRule, what: &str) -> usize {
    let want = ssim(band, rule, true);
    let mut got = vec![f32::NAN; 5];
    gpu.ssim_band(band, rule, &mut got).unwrap();
    assert_eq!(got.len(), want.len(), "{what}");
    let colours = rule.channels(band.layout);
    let (width, held) = (
        band.width as usize,
        band.halo_above + band.rows + band.halo_below,
    );
    let windowed = |x: usize, row: usize| {
        let y = band.halo_above as usize + row;
        (RADIUS..width - RADIUS.min(width)).contains(&x)
            && (RADIUS..(held as usize).saturating_sub(RADIUS)).contains(&y)
    };
    let mut sums = [[0.0f64; 2]; 3];
    let mut windows = 0;
    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let (pixel, c) = (i / colours, i % colours);
        let (x, row) = (pixel % width, pixel / width);
        if !windowed(x, row) {
            assert_eq!((g, w), (1.0, 1.0), "{what}: ({x}, {row}) channel {c}");
            continue;
        }
        assert!(
            (g - w).abs() <= 1e-5,
            "{what}: ({x}, {row}) channel {c}: GPU {g}, CPU {w}"
        );
        sums[c][0] += f64::from(g);
        sums[c][1] += f64::from(w);
        windows += usize::from(c == 0);
    }
    for (c, [g, w]) in sums.iter().enumerate().take(colours) {
        let n = windows.max(1) as f64;
        assert!(
            (g - w).abs() / n <= 1e-6,
            "{what}: channel {c}: means {} and {}",
            g / n,
            w / n
        );
    }
    windows
}

#[test]
fn gpu_matches_the_cpu_on_the_fixtures() {
    let Some(mut gpu) = gpu(u32::MAX) else {
        return;
    };
    for case in cases() {
        let windows = assert_near_cpu(&mut gpu, &case.whole(), &case.rule(), &case.name);
        assert_eq!(
            windows,
            (case.width - 10) * (case.height - 10),
            "{}",
            case.name
        );
    }
}

/// A `width` x `height` picture of `layout` at `level` (of the range) with noise of up to
/// `noise` (of the range) added, or `None` at `level` 0: noise over the whole range.
fn noisy(
    rng: &mut fastrand::Rng,
    layout: Layout,
    size: (usize, usize),
    level: f64,
    noise: f64,
) -> Samples {
    let len = size.0 * size.1 * usize::from(layout.channels);
    let mut value = || (level + noise * (2.0 * rng.f64() - 1.0)).clamp(0.0, 1.0);
    match layout.depth {
        Depth::Eight => Samples::U8((0..len).map(|_| (value() * 255.0).round() as u8).collect()),
        Depth::Sixteen => Samples::U16(
            (0..len)
                .map(|_| (value() * 65535.0).round() as u16)
                .collect(),
        ),
        Depth::Float => Samples::F32((0..len).map(|_| value() as f32).collect()),
    }
}

fn range(depth: Depth) -> f64 {
    match depth {
        Depth::Eight => 255.0,
        Depth::Sixteen => 65535.0,
        Depth::Float => 1.0,
    }
}

#[test]
fn gpu_matches_the_cpu_on_flat_pictures() {
    let Some(mut gpu) = gpu(u32::MAX) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(3);
    // Variances far below the squared means, where f32 sums of x² would lose them.
    let layouts = [Layout::RGB8, Layout::L16, Layout::RGBAF, Layout::LA8];
    for layout in layouts {
        for (level, noise) in [(0.8, 3.0 / 255.0), (0.5, 1e-3), (0.98, 2e-4)] {
            let (width, height) = (37, 29);
            let band = Band {
                width: width as u32,
                y: 0,
                rows: height as u32,
                halo_above: 0,
                halo_below: 0,
                layout,
                a: noisy(&mut rng, layout, (width, height), level, noise),
                b: noisy(&mut rng, layout, (width, height), level, noise),
            };
            let rule = SsimRule {
                range: range(layout.depth),
            };
            let what = format!("{layout:?} at {level} with noise {noise}");
            assert_eq!(assert_near_cpu(&mut gpu, &band, &rule, &what), 27 * 19);
        }
    }
}

#[test]
fn gpu_tiles_and_bands_match_the_cpu() {
    let Some(mut gpu) = gpu(7) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(5);
    for layout in [Layout::RGBA8, Layout::RGB16, Layout::L8, Layout::RGBAF] {
        // Several workgroups across, and rows that are no multiple of a tile's or a group's.
        let (width, height) = (53, 47);
        let (a, b) = (
            noisy(&mut rng, layout, (width, height), 0.5, 0.5),
            noisy(&mut rng, layout, (width, height), 0.5, 0.5),
        );
        let case = Case {
            name: format!("{layout:?}"),
            width,
            height,
            layout,
            range: range(layout.depth),
            a,
            b,
            map: Vec::new(),
            means: Vec::new(),
        };
        let rule = case.rule();
        assert_near_cpu(&mut gpu, &case.whole(), &rule, &case.name);
        for rows in [3, 16, 20] {
            let mut windows = 0;
            for y in (0..height).step_by(rows) {
                let band = case.band(y, rows.min(height - y), RADIUS);
                let what = format!("{}: band of {rows} rows at {y}", case.name);
                windows += assert_near_cpu(&mut gpu, &band, &rule, &what);
            }
            assert_eq!(windows, (width - 10) * (height - 10));
        }
    }
}
