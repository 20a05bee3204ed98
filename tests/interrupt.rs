//! Ctrl-C (SIGINT sent to the real process) while pairs run and while the report is written:
//! the run stops with status 130 and leaves no partial diff image, report or temporary file.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use common::tree::Tree;

const PAIRS: usize = 40;
const SIDE: u32 = 256;

/// `PAIRS` changed pairs of `SIDE` x `SIDE` images: one generated pair, copied.
fn big_tree(root: &Path) -> Tree {
    let tree = Tree::new(root);
    let mut rng = fastrand::Rng::with_seed(5);
    let samples = common::random_samples(&mut rng, (SIDE * SIDE * 4) as usize, false);
    let changed = common::perturb(&mut rng, &samples, 50);
    let layout = diffimg::Layout::RGBA8;
    common::write_png(&root.join("a.png"), SIDE, SIDE, layout, &samples);
    common::write_png(&root.join("b.png"), SIDE, SIDE, layout, &changed);
    for i in 0..PAIRS {
        std::fs::copy(root.join("a.png"), tree.a.join(format!("{i:03}.png"))).unwrap();
        std::fs::copy(root.join("b.png"), tree.b.join(format!("{i:03}.png"))).unwrap();
    }
    tree
}

fn start(tree: &Tree, out: &Path) -> Child {
    std::fs::create_dir_all(out).unwrap();
    common::command()
        .args([&tree.a, &tree.b])
        .arg("--diff-dir")
        .arg(out.join("diffs"))
        .arg("--report")
        .arg(out.join("report.html"))
        .args(["-j", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the diffimg binary runs")
}

/// Reads records until `count` have come, sends SIGINT, and returns the records seen in all.
fn interrupt_after(child: &mut Child, count: usize) -> Vec<String> {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    while lines.len() < count {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "ended early");
        lines.push(line.clone());
    }
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    for line in stdout.lines() {
        lines.push(line.unwrap());
    }
    lines
}

/// Asserts the run ended interrupted and left only complete files.
fn assert_clean(child: Child, out: &Path, lines: &[String]) {
    let output = child.wait_with_output().unwrap();
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(130), "stderr: {err}");
    assert_eq!(err, "error: interrupted\n");
    assert!(lines.iter().all(|l| !l.contains("\"summary\"")));
    assert_nothing_temporary(out);
    let diffs: Vec<_> = walk(&out.join("diffs"));
    assert_eq!(diffs.len(), lines.len(), "a diff image for each record");
    for diff in diffs {
        let image = image::open(&diff).unwrap_or_else(|e| panic!("{}: {e}", diff.display()));
        assert_eq!(image.width(), SIDE);
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.push(path.clone());
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found.retain(|p| p.is_file() || p.file_name().unwrap().to_string_lossy().starts_with('.'));
    found
}

#[test]
fn ctrl_c_while_pairs_run_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let tree = big_tree(dir.path());
    let out = dir.path().join("out");
    let mut child = start(&tree, &out);
    let lines = interrupt_after(&mut child, 3);
    assert!(lines.len() < PAIRS, "the run should stop early");
    assert_clean(child, &out, &lines);
}

#[test]
fn ctrl_c_while_the_report_is_written_leaves_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let tree = big_tree(dir.path());
    let out = dir.path().join("out");
    let mut child = start(&tree, &out);
    let lines = interrupt_after(&mut child, PAIRS);
    assert_eq!(lines.len(), PAIRS);
    assert_clean(child, &out, &lines);
}

/// Waits until a file or folder whose name starts with `prefix` appears in `dir` (or the run
/// ends), then sends `signals` to the run, one after the other.
fn signal_when_present(child: &mut Child, dir: &Path, prefix: &str, signals: &[i32]) {
    let present = || {
        std::fs::read_dir(dir).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with(prefix)))
        })
    };
    while !present() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for &signal in signals {
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        // Apart, so that they are not merged; close, so that the second comes mid-report.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Asserts that nothing temporary is left under `out`, nor a report.
fn assert_nothing_temporary(out: &Path) {
    let leftovers: Vec<_> = walk(out)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".diffimg")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!out.join("report.html").exists());
    assert!(!out.join("report_files").exists());
}

#[test]
fn sigterm_and_sighup_leave_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt;
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().unwrap();
        let tree = big_tree(dir.path());
        let out = dir.path().join("out");
        // While a diff image is written.
        let mut child = start(&tree, &out);
        signal_when_present(&mut child, &out.join("diffs"), ".diffimg-", &[signal]);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert_nothing_temporary(&out);
        // While the report is written.
        std::fs::remove_dir_all(&out).unwrap();
        let mut child = start(&tree, &out);
        signal_when_present(&mut child, &out, ".diffimg-report-", &[signal]);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert_nothing_temporary(&out);
    }
}

#[test]
fn second_ctrl_c_during_the_report_leaves_no_temporary_folder() {
    let dir = tempfile::tempdir().unwrap();
    let tree = big_tree(dir.path());
    let out = dir.path().join("out");
    let mut child = start(&tree, &out);
    signal_when_present(&mut child, &out, ".diffimg-report-", &[libc::SIGINT; 2]);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        common::stderr(&output)
    );
    assert_nothing_temporary(&out);
}
