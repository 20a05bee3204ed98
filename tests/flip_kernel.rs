//! The FLIP kernel against the reference's maps (`tests/fixtures/flip/make.py` wrote them with
//! flip-evaluator 1.7), band by band against itself, and the GPU engine's against the CPU's.
//!
//! Without an adapter the GPU tests are skipped, unless `DIFFIMG_REQUIRE_GPU=1`.

mod common;

use common::{fixture, skip_without_gpu};
use diffimg::internals::{
    Band, CpuEngine, Engine, Exposures, FlipRule, GpuEngine, LuminanceScan, Tonemapper, probe,
    settle,
};
use diffimg::{Depth, GpuOptions, Layout, Samples};
use serde_json::Value;

/// One pair of the fixtures, with the reference's map.
struct Case {
    name: String,
    width: u32,
    height: u32,
    layout: Layout,
    a: Samples,
    b: Samples,
    ppd: f32,
    hdr: Option<Value>,
    flip: Vec<f32>,
    mean: f64,
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture("flip").join(name)).unwrap()
}

fn samples(bytes: Vec<u8>, depth: Depth) -> Samples {
    match depth {
        Depth::Eight => Samples::U8(bytes),
        Depth::Sixteen => Samples::U16(
            bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect(),
        ),
        Depth::Float => Samples::F32(floats(&bytes)),
    }
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn cases() -> Vec<Case> {
    let list: Value = serde_json::from_slice(&read("cases.json")).unwrap();
    let list = list.as_array().unwrap();
    list.iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let depth = match c["depth"].as_str().unwrap() {
                "u8" => Depth::Eight,
                "u16" => Depth::Sixteen,
                _ => Depth::Float,
            };
            let layout = Layout::new(c["channels"].as_u64().unwrap() as u8, depth);
            Case {
                width: c["width"].as_u64().unwrap() as u32,
                height: c["height"].as_u64().unwrap() as u32,
                layout,
                a: samples(read(&format!("{name}.a")), depth),
                b: samples(read(&format!("{name}.b")), depth),
                ppd: c["ppd"].as_f64().unwrap() as f32,
                hdr: c.get("hdr").cloned(),
                flip: floats(&read(&format!("{name}.flip"))),
                mean: c["mean"].as_f64().unwrap(),
                name,
            }
        })
        .collect()
}

/// Rows `rows` of an image, with up to `halo` rows of context on each side.
fn band(case: &Case, rows: std::ops::Range<u32>, halo: u32) -> Band {
    let above = halo.min(rows.start);
    let below = halo.min(case.height - rows.end);
    let row_len = case.width as usize * usize::from(case.layout.channels);
    let held = (rows.start - above) as usize * row_len..(rows.end + below) as usize * row_len;
    let cut = |s: &Samples| match s {
        Samples::U8(v) => Samples::U8(v[held.clone()].to_vec()),
        Samples::U16(v) => Samples::U16(v[held.clone()].to_vec()),
        Samples::F32(v) => Samples::F32(v[held.clone()].to_vec()),
    };
    Band {
        width: case.width,
        y: rows.start,
        rows: rows.end - rows.start,
        halo_above: above,
        halo_below: below,
        layout: case.layout,
        a: cut(&case.a),
        b: cut(&case.b),
    }
}

/// The exposures of an HDR case: as given, or from a scan of image 1 fed `rows` rows at a
/// time, which must find the reference's.
fn exposures(case: &Case, rows: u32) -> Exposures {
    let hdr = case.hdr.as_ref().unwrap();
    let tonemapper: Tonemapper = hdr["tonemapper"].as_str().unwrap().parse().unwrap();
    let start = hdr["start"].as_f64().unwrap() as f32;
    let stop = hdr["stop"].as_f64().unwrap() as f32;
    let count = hdr["count"].as_u64().unwrap() as u32;
    if hdr["given"].as_bool().unwrap() {
        return settle(Some((start, stop)), Some(count), None, tonemapper).unwrap();
    }
    let mut scan = LuminanceScan::new();
    let pass = |scan: &mut LuminanceScan| {
        for y in (0..case.height).step_by(rows as usize) {
            let band = band(case, y..(y + rows).min(case.height), 0);
            scan.add(&band.a, case.layout);
        }
    };
    pass(&mut scan);
    if scan.needs_second_pass() {
        scan.second_pass();
        pass(&mut scan);
    }
    let e = scan.exposures(tonemapper).unwrap();
    assert_eq!(
        (e.start, e.stop, e.count),
        (start, stop, count),
        "{}: exposures",
        case.name
    );
    e
}

fn rule(case: &Case) -> FlipRule {
    FlipRule {
        ppd: case.ppd,
        hdr: case.hdr.as_ref().map(|_| exposures(case, 7)),
    }
}

fn whole(case: &Case, rule: &FlipRule, parallel: bool) -> Vec<f32> {
    let mut out = Vec::new();
    let mut engine = CpuEngine { parallel };
    let band = band(case, 0..case.height, 0);
    engine.flip_band(&band, rule, &mut out).unwrap();
    out
}

#[test]
fn maps_match_the_reference() {
    let mut report = Vec::new();
    for case in cases() {
        let rule = rule(&case);
        let map = whole(&case, &rule, true);
        assert_eq!(map.len(), case.flip.len(), "{}", case.name);
        let errors: Vec<f32> = map
            .iter()
            .zip(&case.flip)
            .map(|(a, b)| (a - b).abs())
            .collect();
        let max = errors.iter().fold(0.0f32, |m, e| m.max(*e));
        let within = errors.iter().filter(|e| **e <= 1e-4).count();
        let mean = map.iter().map(|v| f64::from(*v)).sum::<f64>() / map.len() as f64;
        report.push(format!(
            "{}: max error {max:.2e}, mean {mean:.7} (reference {:.7})",
            case.name, case.mean
        ));
        assert!(
            map.iter().all(|v| (0.0..=1.0).contains(v)),
            "{}: FLIP in [0, 1]",
            case.name
        );
        assert!(
            (mean - case.mean).abs() <= 1e-5,
            "{}: mean {mean} against {}",
            case.name,
            case.mean
        );
        assert!(
            within as f64 >= 0.999 * map.len() as f64,
            "{}: {} of {} pixels further than 1e-4 (max {max})",
            case.name,
            map.len() - within,
            map.len()
        );
    }
    println!("{}", report.join("\n"));
}

#[test]
fn bands_give_the_whole_images_map() {
    for case in cases() {
        if ![
            "rgb8-ppd130",
            "rgba8",
            "narrow8",
            "short8",
            "hdr-given",
            "grey-alpha16",
        ]
        .contains(&case.name.as_str())
        {
            continue;
        }
        let rule = rule(&case);
        let halo = rule.halo();
        let expected = whole(&case, &rule, true);
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&whole(&case, &rule, false)),
            bits(&expected),
            "{}",
            case.name
        );
        for (height, extra) in [(1, 0), (3, 0), (halo - 1, 2), (halo + 4, 0), (25, 5)] {
            let mut map = Vec::new();
            let mut engine = CpuEngine::default();
            for y in (0..case.height).step_by(height as usize) {
                let rows = y..(y + height).min(case.height);
                let mut out = Vec::new();
                engine
                    .flip_band(&band(&case, rows, halo + extra), &rule, &mut out)
                    .unwrap();
                map.extend(out);
            }
            assert_eq!(
                bits(&map),
                bits(&expected),
                "{}: bands of {height} rows",
                case.name
            );
        }
    }
}

#[test]
fn identical_images_score_zero() {
    let case = cases().into_iter().find(|c| c.name == "rgb16").unwrap();
    let same = Case {
        b: case.a.clone(),
        ..case
    };
    let map = whole(&same, &FlipRule::default(), true);
    assert!(map.iter().all(|v| *v == 0.0));
}

/// A GPU engine, or `None` (after saying so) when there is no adapter and none is required.
fn gpu(options: GpuOptions) -> Option<GpuEngine> {
    if let Err(e) = probe() {
        skip_without_gpu(&e.to_string());
        return None;
    }
    Some(GpuEngine::new(options).expect("an adapter exists, so the GPU engine starts"))
}

/// Checks the GPU's map against the CPU's: per pixel within 1e-5 on 99.99% of pixels and
/// within 1e-3 on all, the mean within 1e-6. Returns the largest difference.
fn assert_close(gpu: &[f32], cpu: &[f32], what: &str) -> f32 {
    assert_eq!(gpu.len(), cpu.len(), "{what}");
    let errors: Vec<f32> = gpu.iter().zip(cpu).map(|(g, c)| (g - c).abs()).collect();
    let max = errors.iter().fold(0.0f32, |m, e| m.max(*e));
    let far = errors.iter().filter(|e| e.is_nan() || **e > 1e-5).count();
    assert!(
        far as f64 <= 1e-4 * gpu.len() as f64 && max <= 1e-3,
        "{what}: {far} of {} pixels further than 1e-5, max {max}",
        gpu.len()
    );
    let mean = |v: &[f32]| v.iter().map(|v| f64::from(*v)).sum::<f64>() / v.len() as f64;
    let (g, c) = (mean(gpu), mean(cpu));
    assert!((g - c).abs() <= 1e-6, "{what}: mean {g} against {c}");
    max
}

/// The fixtures' pairs (8- and 16-bit, grey, alpha, narrow and short, HDR with each tone
/// mapper) on the GPU, whole and in bands with halo rows, against the CPU.
#[test]
fn gpu_maps_match_the_cpu() {
    let Some(mut engine) = gpu(GpuOptions::default()) else {
        return;
    };
    let mut report = Vec::new();
    for case in cases() {
        let rule = rule(&case);
        let cpu = whole(&case, &rule, true);
        let mut map = Vec::new();
        engine
            .flip_band(&band(&case, 0..case.height, 0), &rule, &mut map)
            .unwrap();
        let max = assert_close(&map, &cpu, &case.name);
        report.push(format!("{}: max {max:.1e}", case.name));
        let halo = rule.halo();
        let mut banded = Vec::new();
        for y in (0..case.height).step_by(13) {
            let rows = y..(y + 13).min(case.height);
            let mut out = Vec::new();
            engine
                .flip_band(&band(&case, rows, halo), &rule, &mut out)
                .unwrap();
            banded.extend(out);
        }
        assert_eq!(banded, map, "{}: bands of 13 rows", case.name);
    }
    println!("{}", report.join("\n"));
}

/// Tiles of a few rows (a test hook's limit) give the map of one tile.
#[test]
fn gpu_tiles_give_the_whole_map() {
    let Some(mut engine) = gpu(GpuOptions {
        max_tile: Some((u32::MAX, 5)),
        ..GpuOptions::default()
    }) else {
        return;
    };
    let Some(mut one) = gpu(GpuOptions::default()) else {
        return;
    };
    for case in cases() {
        if !["rgb8", "hdr-given", "narrow8"].contains(&case.name.as_str()) {
            continue;
        }
        let rule = rule(&case);
        let band = band(&case, 0..case.height, 0);
        let (mut tiled, mut whole) = (Vec::new(), Vec::new());
        engine.flip_band(&band, &rule, &mut tiled).unwrap();
        one.flip_band(&band, &rule, &mut whole).unwrap();
        assert_eq!(tiled, whole, "{}", case.name);
    }
}

/// A larger pair of random-ish images, and identical ones, on the GPU against the CPU.
#[test]
fn gpu_matches_the_cpu_on_noise() {
    let Some(mut engine) = gpu(GpuOptions::default()) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(7);
    let (width, height) = (301u32, 77u32);
    for layout in [
        Layout::RGB8,
        Layout::new(4, Depth::Sixteen),
        Layout::new(1, Depth::Eight),
    ] {
        let len = (width * height) as usize * usize::from(layout.channels);
        let sixteen = layout.depth == Depth::Sixteen;
        let a = common::random_samples(&mut rng, len, sixteen);
        let b = common::perturb(&mut rng, &a, 3);
        let case = Case {
            name: format!("{layout:?}"),
            width,
            height,
            layout,
            a: a.clone(),
            b,
            ppd: 50.0,
            hdr: None,
            flip: Vec::new(),
            mean: 0.0,
        };
        let rule = FlipRule {
            ppd: 50.0,
            hdr: None,
        };
        let cpu = whole(&case, &rule, true);
        let mut map = Vec::new();
        engine
            .flip_band(&band(&case, 0..height, 0), &rule, &mut map)
            .unwrap();
        assert_close(&map, &cpu, &case.name);
        let same = Case { b: a, ..case };
        engine
            .flip_band(&band(&same, 0..height, 0), &rule, &mut map)
            .unwrap();
        assert!(map.iter().all(|v| *v == 0.0), "identical images");
    }
}
