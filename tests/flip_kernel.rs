//! The FLIP kernel against the reference's maps (`tests/fixtures/flip/make.py` wrote them with
//! flip-evaluator 1.7), and band by band against itself.

mod common;

use common::fixture;
use diffimg::internals::{
    Band, CpuEngine, Engine, Exposures, FlipRule, LuminanceScan, Tonemapper, settle,
};
use diffimg::{Depth, Layout, Samples};
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
