//! Colour types counted as stored, as diffimg counts them: grey and RGB PNGs with a `tRNS`
//! colour key stay grey and RGB, a GIF with no transparent pixel is RGB, CMYK (JPEG and TIFF)
//! is compared on its four samples. Files and the ratios diffimg 0.3.0 printed for them are in
//! tests/fixtures/colour/ (written by make.py there).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{assert_error, diffimg, fixture, stderr, stdout};

fn colour(name: &str) -> PathBuf {
    fixture("colour").join(name)
}

/// Runs diffimg with `--json` and returns the report, asserting it succeeded.
fn json(a: &Path, b: &Path) -> serde_json::Value {
    let out = diffimg([a.as_os_str(), b.as_os_str(), OsStr::new("--json")]);
    assert_eq!(out.status.code(), Some(0), "{a:?} {b:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Every pair in ratios.txt: the ratio diffimg printed, to the last digit.
#[test]
fn ratios_are_diffimgs() {
    let listed = std::fs::read_to_string(colour("ratios.txt")).unwrap();
    let mut names = Vec::new();
    for line in listed.lines() {
        let [a, b, ratio] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("ratios.txt: {line:?}");
        };
        for backend in ["cpu", "gpu"] {
            let out = diffimg([colour(a), colour(b), "--backend".into(), backend.into()]);
            assert_eq!(stdout(&out).trim(), ratio, "{a} {b}: {}", stderr(&out));
        }
        names.push(a.to_owned());
    }
    assert!(names.iter().any(|n| n.starts_with("rgb-trns")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("grey-trns")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with(".gif")), "{names:?}");
    assert!(names.iter().any(|n| n == "cmyk-a.tiff"), "{names:?}");
}

/// The colour key's layout: one and three channels.
#[test]
fn colour_keys_keep_the_stored_type() {
    for (name, channels) in [("grey-trns-a.png", 1), ("rgb-trns-a.png", 3)] {
        let report = json(&colour(name), &colour(name));
        assert_eq!(report["channels"], channels, "{name}");
    }
}

/// A GIF without transparent pixels is its RGB pixels: the same figures as the PNG of them.
#[test]
fn opaque_gif_is_rgb() {
    let gif = json(&colour("opaque-a.gif"), &colour("opaque-b.gif"));
    let png = json(&colour("opaque-a.rgb.png"), &colour("opaque-b.rgb.png"));
    assert_eq!(gif["channels"], 3);
    assert_eq!(gif["sum"], png["sum"]);
    assert_eq!(gif["ratio"], png["ratio"]);
    let same = json(&colour("opaque-a.gif"), &colour("opaque-a.rgb.png"));
    assert_eq!(same["sum"], 0);
}

/// CMYK JPEGs: four channels, counted with `--ignore-alpha` too (CMYK has no alpha).
#[test]
fn cmyk_counts_four_channels() {
    let (a, b) = (fixture("jpeg/cmyk-a.jpg"), fixture("jpeg/cmyk-b.jpg"));
    let report = json(&a, &b);
    assert_eq!(report["channels"], 4);
    let out = diffimg([a.as_os_str(), b.as_os_str(), OsStr::new("--ignore-alpha")]);
    let plain = diffimg([&a, &b]);
    assert_eq!(stdout(&out), stdout(&plain), "{}", stderr(&out));
}

/// CMYK JPEGs give Pillow's CMYK pixels: no difference from the TIFFs Pillow saved of them.
#[test]
fn cmyk_jpeg_is_pillows() {
    for tag in ["a", "b"] {
        let jpeg = fixture(&format!("jpeg/cmyk-{tag}.jpg"));
        let tiff = fixture(&format!("jpeg/cmyk-{tag}.pillow.tiff"));
        let report = json(&jpeg, &tiff);
        assert_eq!(report["channels"], 4);
        assert_eq!(report["sum"], 0, "cmyk-{tag}");
    }
}

/// CMYK against anything else, and the figures defined on light only, are one-line errors.
#[test]
fn cmyk_refusals() {
    let cmyk = fixture("jpeg/cmyk-a.jpg");
    let rgb = fixture("jpeg/444-a.jpg");
    let out = diffimg([&rgb, &cmyk]);
    assert_error(&out, "compared only with CMYK");
    let dir = tempfile::tempdir().unwrap();
    let diff = dir.path().join("diff.png");
    let out = diffimg([
        cmyk.as_os_str(),
        cmyk.as_os_str(),
        OsStr::new("-f"),
        diff.as_os_str(),
    ]);
    assert_error(&out, "diff images");
    assert!(!diff.exists());
    let out = diffimg([
        cmyk.as_os_str(),
        cmyk.as_os_str(),
        OsStr::new("--threshold"),
        OsStr::new("0.1"),
    ]);
    assert_error(&out, "changed-pixel count");
}
