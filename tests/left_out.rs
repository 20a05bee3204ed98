//! Pixels that are not compared: many `--ignore` rectangles, and on a union canvas the pixels
//! neither image covers. Their figures by construction, and what they may cost (CPU seconds
//! and address space, as resource limits of the child process).

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use common::{stderr, stdout, write_png};
use diffimg::pixel::{Layout, Samples};

/// Runs the binary with at most `cpu_seconds` of CPU time and `bytes` of address space; a run
/// over either is killed or fails.
fn diffimg_within(cpu_seconds: u64, bytes: u64, args: &[&OsStr]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = common::command();
    command.args(args);
    let limit = |n: u64| libc::rlimit {
        rlim_cur: n as libc::rlim_t,
        rlim_max: n as libc::rlim_t,
    };
    let (cpu, space) = (limit(cpu_seconds), limit(bytes));
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_CPU, &cpu) == 0
                && libc::setrlimit(libc::RLIMIT_AS, &space) == 0
            {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{:?} {}", out.status, stderr(out));
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
    let rects: Vec<String> = (0..1000).map(|i| format!("--ignore={i},{i},1000,1000")).collect();
    let ignored: u64 = (0..1999u64)
        .map(|y| y.min(999) + 1000 - y.saturating_sub(999))
        .sum();
    let mut args: Vec<&OsStr> = vec![a.as_ref(), b.as_ref(), "--json".as_ref()];
    args.extend(["--backend", "cpu", "-t", "0.1"].map(OsStr::new));
    args.extend(rects.iter().map(OsStr::new));
    let report = json(&diffimg_within(20, 4 << 30, &args));
    let total = u64::from(n * n);
    assert_eq!(report["ignored_pixels"], ignored);
    assert_eq!(report["differing_pixels"], total - ignored);
    assert_eq!(report["changed_pixels"], total - ignored);
}
