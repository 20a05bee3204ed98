//! The SSIM kernel against scikit-image (the fixtures of `fixtures/ssim/make.py`): each pixel's
//! SSIM per colour channel, and the mean over the pixels whose window lies in the image; bands
//! of every height with their halo rows against the whole image, bit for bit.

mod common;

use common::fixture;
use diffimg::internals::{Band, CpuEngine, Engine, SsimRule};
use diffimg::{Depth, Layout, Samples};

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
