//! The error figures of `--json` (`rms`, `psnr`, `max_diff_at`) against hand-computed values,
//! on both engines, and the `--max-diff` gate.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_error, diffimg, gpu_required, stderr, stdout, write_png};
use diffimg::{Layout, Samples};

/// A 3x2 RGB pair: pixel (1, 0) differs by (3, 0, 5), pixel (2, 1) by (0, 5, 1); the rest equal.
fn pair(dir: &Path) -> (PathBuf, PathBuf) {
    #[rustfmt::skip]
    let a = vec![
        0, 0, 0,   10, 20, 30,  7, 7, 7,
        1, 2, 3,   4, 5, 6,     50, 60, 70,
    ];
    #[rustfmt::skip]
    let b = vec![
        0, 0, 0,   13, 20, 25,  7, 7, 7,
        1, 2, 3,   4, 5, 6,     50, 65, 71,
    ];
    let (pa, pb) = (dir.join("a.png"), dir.join("b.png"));
    write_png(&pa, 3, 2, Layout::RGB8, &Samples::U8(a));
    write_png(&pb, 3, 2, Layout::RGB8, &Samples::U8(b));
    (pa, pb)
}

fn json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json".as_ref());
    let out = diffimg(all);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON on stdout")
}

#[test]
fn hand_computed_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    // Squares: 9 + 25 + 25 + 1 = 60, over 6 pixels of 3 channels.
    let mean_square = 60.0 / 18.0;
    let mut seen = Vec::new();
    for backend in ["cpu", "gpu"] {
        let out = diffimg([
            a.as_os_str(),
            b.as_os_str(),
            "--json".as_ref(),
            "--backend".as_ref(),
            backend.as_ref(),
        ]);
        if backend == "gpu" && out.status.code() != Some(0) && !gpu_required() {
            eprintln!("skipped the GPU: {}", stderr(&out));
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        let mut figures: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(figures["rms"], f64::sqrt(mean_square), "{backend}");
        let psnr = 10.0 * (255.0 * 255.0 / mean_square).log10();
        assert_eq!(figures["psnr"], psnr, "{backend}");
        assert_eq!(figures["max_diff"], 5);
        // Both pixels differ by 5; the first in row order wins, at its first such channel.
        assert_eq!(
            figures["max_diff_at"],
            serde_json::json!({"x": 1, "y": 0, "channel": 2}),
            "{backend}"
        );
        let object = figures.as_object_mut().unwrap();
        object.remove("engine");
        object.remove("elapsed_ms");
        seen.push(figures);
    }
    if let [cpu, gpu] = &seen[..] {
        assert_eq!(cpu, gpu);
    }
}

#[test]
fn equal_images_have_no_psnr_and_no_place() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = pair(dir.path());
    let figures = json(&[a.as_os_str(), a.as_os_str()]);
    assert_eq!(figures["rms"], 0.0);
    assert_eq!(figures["psnr"], serde_json::Value::Null);
    assert_eq!(figures["max_diff_at"], serde_json::Value::Null);
}

#[test]
fn alpha_left_out_moves_the_place() {
    let dir = tempfile::tempdir().unwrap();
    // Pixel 0 differs by 200 in alpha only, pixel 1 by 9 in green.
    let a = Samples::U8(vec![0, 0, 0, 255, 5, 5, 5, 255]);
    let b = Samples::U8(vec![0, 0, 0, 55, 5, 14, 5, 255]);
    let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_png(&pa, 2, 1, Layout::RGBA8, &a);
    write_png(&pb, 2, 1, Layout::RGBA8, &b);
    let all = json(&[pa.as_os_str(), pb.as_os_str()]);
    assert_eq!(
        all["max_diff_at"],
        serde_json::json!({"x": 0, "y": 0, "channel": 3})
    );
    assert_eq!(all["rms"], f64::sqrt((200.0 * 200.0 + 81.0) / 8.0));
    let colour = json(&[pa.as_os_str(), pb.as_os_str(), "--ignore-alpha".as_ref()]);
    assert_eq!(
        colour["max_diff_at"],
        serde_json::json!({"x": 1, "y": 0, "channel": 1})
    );
    assert_eq!(colour["rms"], f64::sqrt(81.0 / 6.0));
}

#[test]
fn max_diff_gate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    let gate = |value: &str| {
        diffimg([
            a.as_os_str(),
            b.as_os_str(),
            "--max-diff".as_ref(),
            value.as_ref(),
        ])
    };
    assert_eq!(gate("4").status.code(), Some(1));
    assert_eq!(gate("5").status.code(), Some(0));
    for bad in ["-1", "five", "inf"] {
        assert_error(&gate(bad), "--max-diff");
    }
}
