//! Pixels that are not compared: many `--ignore` rectangles, and on a union canvas the pixels
//! neither image covers. Their figures by construction, and what they may cost (CPU seconds
//! and memory, as resource limits of the child process).

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use common::{stderr, stdout, write_png};
use diffimg::{Layout, Samples};

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?} {}",
        out.status,
        stderr(out)
    );
    serde_json::from_str(&stdout(out)).unwrap()
}

fn grey(path: &Path, width: u32, height: u32, value: u8) {
    let samples = Samples::U8(vec![value; width as usize * height as usize]);
    write_png(path, width, height, Layout::L8, &samples);
}

/// A thousand overlapping rectangles over a 2000x2000 pair cost about what one does: the
/// rectangles are merged into spans per row once.
#[test]
fn a_thousand_ignore_rectangles() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    let n = 2000u32;
    grey(&a, n, n, 0);
    grey(&b, n, n, 255);
    // A staircase of squares (i, i, 1000, 1000): row y is covered from max(0, y - 999) to
    // min(y, 999) + 1000, up to row 1998.
    let rects: Vec<String> = (0..1000)
        .map(|i| format!("--ignore={i},{i},1000,1000"))
        .collect();
    let ignored: u64 = (0..1999u64)
        .map(|y| y.min(999) + 1000 - y.saturating_sub(999))
        .sum();
    let mut args: Vec<&OsStr> = vec![a.as_ref(), b.as_ref(), "--json".as_ref()];
    args.extend(["--backend", "cpu", "-t", "0.1"].map(OsStr::new));
    args.extend(rects.iter().map(OsStr::new));
    let report = json(&common::diffimg_bounded(&args, 4 << 30, 20));
    let total = u64::from(n * n);
    assert_eq!(report["ignored_pixels"], ignored);
    assert_eq!(report["differing_pixels"], total - ignored);
    assert_eq!(report["changed_pixels"], total - ignored);
}

/// Runs the binary on `a` and `b` with `extra` and the JSON figures; `None` when the GPU engine
/// was asked for and no adapter exists (unless one is required).
fn figures(a: &Path, b: &Path, backend: &str, extra: &[&str]) -> Option<serde_json::Value> {
    let mut args = vec![a.as_os_str(), b.as_os_str(), "--json".as_ref()];
    args.extend(["--backend", backend].map(OsStr::new));
    args.extend(extra.iter().map(OsStr::new));
    let out = common::diffimg(&args);
    if backend == "gpu" && out.status.code() == Some(2) {
        common::skip_without_gpu(&stderr(&out));
        return None;
    }
    Some(json(&out))
}

/// An image against its transpose (a rotated copy) on the union canvas: the pixels neither
/// covers, the square beyond both, are neither compared nor changed; those only one covers are
/// changed; in the overlap, the pixels that differ. Both engines agree.
#[test]
fn union_canvas_of_an_image_and_its_transpose() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (37usize, 13usize);
    let mut rng = fastrand::Rng::with_seed(2119);
    let image: Vec<u8> = (0..w * h)
        .map(|_| if rng.bool() { 255 } else { 0 })
        .collect();
    let transposed: Vec<u8> = (0..h * w).map(|i| image[(i % h) * w + i / h]).collect();
    let (a, b) = (dir.path().join("wide.png"), dir.path().join("tall.png"));
    write_png(
        &a,
        w as u32,
        h as u32,
        Layout::L8,
        &Samples::U8(image.clone()),
    );
    write_png(&b, h as u32, w as u32, Layout::L8, &Samples::U8(transposed));
    let uncovered = (w - h) * (w - h);
    let only_one = 2 * (w * h - h * h);
    // In the overlap, image 2's pixel (x, y) is image 1's (y, x).
    let overlap = (0..h)
        .flat_map(|y| (0..h).map(move |x| (x, y)))
        .filter(|&(x, y)| image[y * w + x] != image[x * w + y])
        .count();
    assert!(overlap > 0);
    let changed = only_one + overlap;
    let compared = w * w - uncovered;
    for (first, second) in [(&a, &b), (&b, &a)] {
        let mut reports = Vec::new();
        for backend in ["cpu", "gpu"] {
            let extra = ["--canvas", "union", "-t", "0.1"];
            let Some(mut report) = figures(first, second, backend, &extra) else {
                continue;
            };
            assert_eq!(report["canvas"]["uncovered"], uncovered, "{backend}");
            assert_eq!(report["changed_pixels"], changed, "{backend}");
            assert_eq!(report["differing_pixels"], changed, "{backend}");
            assert_eq!(report["ignored_pixels"], 0, "{backend}");
            let percent = report["changed_percent"].as_f64().unwrap();
            let want = changed as f64 * 100.0 / compared as f64;
            assert!((percent - want).abs() < 1e-9, "{percent} {want}");
            let ratio = report["ratio"].as_f64().unwrap();
            let want = changed as f64 / compared as f64;
            assert!((ratio - want).abs() < 1e-12, "{ratio} {want}");
            for engine_only in ["engine", "elapsed_ms"] {
                report.as_object_mut().unwrap().remove(engine_only);
            }
            reports.push(report);
        }
        assert!(reports.windows(2).all(|r| r[0] == r[1]), "{reports:?}");
        // The gate's percentage is of the compared pixels.
        let gate = |percent: f64| {
            let gate = format!("--max-changed={percent}%");
            let args = [first.as_os_str(), second.as_os_str()];
            let extra = ["--canvas", "union", &gate].map(OsStr::new);
            let all: Vec<&OsStr> = args.into_iter().chain(extra).collect();
            common::diffimg(&all).status.code()
        };
        let percent = changed as f64 * 100.0 / compared as f64;
        assert_eq!(gate(percent + 0.01), Some(0));
        assert_eq!(gate(percent - 0.01), Some(1));
        // The rows only the taller image covers are counted apart unless a diff image draws
        // them: the figures are the same either way, with anti-aliasing and left-out pixels.
        let diff = dir.path().join("diff.png");
        let draw = ["-f", diff.to_str().unwrap()];
        let ignore = [
            "--ignore=5,20,3,4",
            "--ignore=0,10,2,27",
            "--ignore=30,0,7,3",
        ];
        for extra in [&["--aa"][..], &ignore, &["--max-diff=300"]] {
            let mut reports = Vec::new();
            for backend in ["cpu", "gpu"] {
                for drawn in [&[][..], &draw] {
                    let all: Vec<&str> = ["--canvas", "union", "-t", "0.1"]
                        .iter()
                        .chain(extra)
                        .chain(drawn)
                        .copied()
                        .collect();
                    let Some(mut report) = figures(first, second, backend, &all) else {
                        continue;
                    };
                    for engine_only in ["engine", "elapsed_ms"] {
                        report.as_object_mut().unwrap().remove(engine_only);
                    }
                    reports.push(report);
                }
            }
            assert!(reports.windows(2).all(|r| r[0] == r[1]), "{reports:#?}");
        }
    }
}

/// A 60000x1 image against a 1x60000 one: a canvas of 3.6 billion pixels of which 119,999 are
/// covered. The rows below the wide image take work per row, not per pixel, in little memory.
#[test]
fn union_canvas_of_a_row_and_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let (row, column) = (dir.path().join("row.png"), dir.path().join("column.png"));
    let n = 60_000u32;
    grey(&row, n, 1, 7);
    grey(&column, 1, n, 7);
    let side = u64::from(n - 1);
    for (a, b) in [(&row, &column), (&column, &row)] {
        let args = [a.as_os_str(), b.as_os_str(), "--json".as_ref()];
        let extra = ["--backend", "cpu", "--canvas", "union", "-t", "0.1"].map(OsStr::new);
        let all: Vec<&OsStr> = args.into_iter().chain(extra).collect();
        let report = json(&common::diffimg_bounded(&all, 1 << 30, 10));
        assert_eq!(report["canvas"]["uncovered"], side * side);
        assert_eq!(report["changed_pixels"], 2 * side);
        assert_eq!(report["differing_pixels"], 2 * side);
        // The row and the column touch diagonally at (1, 0) and (0, 1): one region.
        let regions = &report["regions"];
        assert_eq!(regions["count"], 1);
        assert_eq!(regions["boxes"][0]["pixels"], 2 * side);
        assert_eq!(regions["boxes"][0]["height"], n);
        assert_eq!(report["max_diff_at"]["y"], 0);
        assert_eq!(report["max_diff_at"]["x"], 1);
    }
    // The column's rows below the row are still decoded: a truncated file is an error.
    let bytes = std::fs::read(&column).unwrap();
    std::fs::write(&column, &bytes[..bytes.len() - 30]).unwrap();
    let args = [row.as_os_str(), column.as_os_str()];
    let extra = ["--backend", "cpu", "--canvas", "union"].map(OsStr::new);
    let all: Vec<&OsStr> = args.into_iter().chain(extra).collect();
    common::assert_error(&common::diffimg_bounded(&all, 1 << 30, 10), "truncated");
}
