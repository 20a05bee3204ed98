//! JPEG decoded as Pillow decodes it: every kind of JPEG in tests/fixtures/jpeg/ against the
//! pixels Pillow 13 decoded from it (kept beside it, written by make.py there), and pairs of
//! them against the ratio diffimg 0.3.0 printed for them (ratios.txt).

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{assert_error, diffimg, fixture, stderr, stdout};
use diffimg::internals::ReportInternals;
use diffimg::{Backend, Options};

fn jpeg(name: &str) -> std::path::PathBuf {
    fixture("jpeg").join(name)
}

/// Runs diffimg with `--json` and returns the report, asserting it succeeded.
fn json(a: &Path, b: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![a.as_os_str(), b.as_os_str(), OsStr::new("--json")];
    args.extend(extra.iter().map(OsStr::new));
    let out = diffimg(&args);
    assert_eq!(out.status.code(), Some(0), "{a:?} {b:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Baseline 4:2:0, 4:2:2 and 4:4:4, progressive, greyscale and a taller image (several groups
/// of decoded rows): no difference from Pillow's pixels, on both engines.
#[test]
fn pixels_are_pillows() {
    let kinds = ["420", "422", "444", "progressive", "grey"];
    let names = kinds
        .iter()
        .flat_map(|kind| [format!("{kind}-a"), format!("{kind}-b")])
        .chain(["tall".to_owned()]);
    for name in names {
        let file = jpeg(&format!("{name}.jpg"));
        let pillow = jpeg(&format!("{name}.pillow.png"));
        for backend in ["cpu", "gpu"] {
            let report = json(&file, &pillow, &["--backend", backend]);
            assert_eq!(report["sum"], 0, "{name} on the {backend}");
            let channels = if name.starts_with("grey") { 1 } else { 3 };
            assert_eq!(report["channels"], channels, "{name}");
        }
    }
}

/// Pairs of each kind: the ratio diffimg 0.3.0 printed, to the last digit.
#[test]
fn ratios_are_diffimgs() {
    let listed = std::fs::read_to_string(jpeg("ratios.txt")).unwrap();
    let mut pairs = 0;
    for line in listed.lines() {
        let [a, b, ratio] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("ratios.txt: {line:?}");
        };
        let out = diffimg([jpeg(a), jpeg(b)]);
        assert_eq!(stdout(&out).trim(), ratio, "{a} {b}: {}", stderr(&out));
        pairs += 1;
    }
    assert_eq!(pairs, 6, "ratios.txt lists a pair of each kind");
}

/// Bands far smaller and far larger than the groups of rows the decoder hands over give the
/// same sums.
#[test]
fn band_borders_do_not_matter() {
    let (file, other) = (jpeg("tall.jpg"), jpeg("420-a.jpg"));
    let mut sums = Vec::new();
    for band_pixels in [1, 777, 1 << 16, 1 << 24] {
        let options = Options {
            backend: Backend::Cpu,
            band_pixels,
            resize: true,
            ..Default::default()
        };
        let report = diffimg::compare(&file, &other, &options).unwrap();
        sums.push(report.stats().sums);
    }
    assert!(sums.windows(2).all(|w| w[0] == w[1]), "{sums:?}");
    assert_ne!(sums[0], [0; 4]);
}

/// A JPEG damaged inside its scan (bytes overwritten, so the file still ends with its marker):
/// Pillow's decoder recovers, as libjpeg does, or the run fails with one line naming the
/// file; never a panic.
#[test]
fn damaged_scans_give_a_result_or_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(jpeg("tall.jpg")).unwrap();
    let scan = data.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..20 {
        let mut bad = data.clone();
        for _ in 0..8 {
            let at = rng.usize(scan + 20..bad.len() - 2);
            bad[at] = rng.u8(..0xff);
        }
        let path = dir.path().join(format!("bad{round}.jpg"));
        std::fs::write(&path, &bad).unwrap();
        let out = diffimg([&path, &path]);
        match out.status.code() {
            Some(0) => assert_eq!(stdout(&out), "0.0\n"),
            _ => assert_error(&out, &format!("bad{round}.jpg")),
        }
    }
}

/// A frame header forged to a sample precision libjpeg refuses is one line, not a crash.
#[test]
fn libjpeg_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(jpeg("420-a.jpg")).unwrap();
    let sof = data.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    data[sof + 4] = 7; // precision: 7 bits
    let path = dir.path().join("precision.jpg");
    std::fs::write(&path, &data).unwrap();
    let out = diffimg([&path, &jpeg("420-a.jpg")]);
    assert_error(&out, "precision.jpg");
    assert!(stderr(&out).contains("precision 7"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}
