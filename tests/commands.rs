//! The command line's commands: `compare`, `batch` and `merge` by name and by shape, the
//! comparison options in batch mode, and `--generate`.

mod common;

use std::path::Path;

use common::tree::{by_name, lines};
use common::{assert_error, diffimg, fixture, stderr, stdout, write_png};
use diffimg::{Layout, Samples};

/// A grey PNG of `width` x `height` pixels, all `value`.
fn grey(path: &Path, width: u32, height: u32, value: u8) {
    let samples = Samples::U8(vec![value; (width * height) as usize]);
    write_png(path, width, height, Layout::L8, &samples);
}

/// Two folders `a` and `b` with a pair `small.png` (4x4) and a pair `large.png` (6x6) that
/// differ in every pixel, and a 4x4 mask that leaves out the left half.
fn folders(root: &Path) -> [std::path::PathBuf; 3] {
    let (a, b, mask) = (root.join("a"), root.join("b"), root.join("mask.png"));
    for dir in [&a, &b] {
        std::fs::create_dir(dir).unwrap();
    }
    for (name, size) in [("small.png", 4), ("large.png", 6)] {
        grey(&a.join(name), size, size, 0);
        grey(&b.join(name), size, size, 200);
    }
    let left: Vec<u8> = (0..16).map(|i| if i % 4 < 2 { 255 } else { 0 }).collect();
    write_png(&mask, 4, 4, Layout::L8, &Samples::U8(left));
    [a, b, mask]
}

#[test]
fn commands_by_name_and_by_shape() {
    let (b, w) = (fixture("black.png"), fixture("white.png"));
    let plain = diffimg([&b, &w]);
    let named = diffimg([Path::new("compare"), &b, &w]);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert_eq!(stdout(&plain), stdout(&named));
    let root = tempfile::tempdir().unwrap();
    let [a, b, _] = folders(root.path());
    let by_shape = diffimg([&a, &b]);
    let by_name = diffimg([Path::new("batch"), &a, &b]);
    assert_eq!(by_shape.status.code(), Some(0), "{}", stderr(&by_shape));
    assert_eq!(by_name.status.code(), Some(0), "{}", stderr(&by_name));
    assert_eq!(lines(&by_shape.stdout).0.len(), 2);
    assert_eq!(lines(&by_name.stdout).0.len(), 2);
    // Each command keeps its own output options.
    assert_error(
        &diffimg([Path::new("-f"), Path::new("d.png"), &a, &b]),
        "'-f'",
    );
    assert_error(
        &diffimg([Path::new("compare"), &a, &b, Path::new("--jobs=2")]),
        "--jobs",
    );
    let help = stdout(&diffimg(["--help"]));
    for command in ["compare", "batch", "merge"] {
        assert!(help.contains(&format!("  {command} ")), "{help}");
        let own = diffimg([command, "--help"]);
        assert_eq!(own.status.code(), Some(0));
        assert!(stdout(&own).contains("Example: diffimg"), "{command}");
    }
}

/// Every comparison option is taken in batch mode; `--mask` serves the pairs of its size and
/// makes the others error records.
#[test]
fn batch_takes_the_comparison_options() {
    let root = tempfile::tempdir().unwrap();
    let [a, b, mask] = folders(root.path());
    let out = diffimg([
        a.as_os_str(),
        b.as_os_str(),
        "--mask".as_ref(),
        mask.as_os_str(),
        "--gpu-timeout".as_ref(),
        "3".as_ref(),
        "--gpu-batch".as_ref(),
        "4".as_ref(),
        "--max-ratio".as_ref(),
        "1".as_ref(),
        "--backend".as_ref(),
        "cpu".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let (records, summary) = lines(&out.stdout);
    let records = by_name(&records);
    let small = &records["small.png"];
    assert_eq!(small["status"], "changed", "{small}");
    assert_eq!(small["ignored_pixels"], 8, "{small}");
    let large = &records["large.png"];
    assert_eq!(large["status"], "error", "{large}");
    assert!(large["error"].as_str().unwrap().contains("mask"), "{large}");
    assert_eq!(summary["errors"], 1);
    for (option, value) in [
        ("--gpu-timeout", "0"),
        ("--gpu-batch", "0"),
        ("--backend", "tpu"),
    ] {
        assert_error(
            &diffimg([&a, &b, Path::new(option), Path::new(value)]),
            option,
        );
    }
}

#[test]
fn generate_writes_a_man_page_and_completions() {
    let man = diffimg(["--generate", "man"]);
    assert_eq!(man.status.code(), Some(0), "{}", stderr(&man));
    let page = stdout(&man);
    assert!(
        page.starts_with(".ie") || page.contains(".TH diffimg 1"),
        "{page}"
    );
    assert!(
        page.contains(".TH diffimg 1") && page.contains("batch"),
        "{page}"
    );
    for (kind, mark) in [
        ("complete-bash", "complete -F"),
        ("complete-zsh", "#compdef diffimg"),
        ("complete-fish", "complete -c diffimg"),
        ("complete-powershell", "Register-ArgumentCompleter"),
    ] {
        let out = diffimg(["--generate", kind]);
        assert_eq!(out.status.code(), Some(0), "{kind}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(mark), "{kind}: {script}");
        for word in ["max-ratio", "merge", "heatmap"] {
            assert!(script.contains(word), "{kind} lacks {word}");
        }
    }
    assert_error(&diffimg(["--generate", "complete-tcsh"]), "--generate");
    assert_error(
        &diffimg(["--generate", "man", "a.png", "b.png"]),
        "--generate",
    );
}
