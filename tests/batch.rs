//! Batch mode run as a user runs it, on generated folders: pairing, records, exit status,
//! pair lists, the diff folder, and bad input.

mod common;
#[path = "fixtures/bad/generate.rs"]
#[allow(dead_code)]
mod generate;

use std::ffi::OsStr;
use std::path::Path;

use common::tree::{HEIGHT, Tree, WIDTH, by_name, lines, run};
use common::{diffimg, stderr, stdout};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A tree with every kind of pair: two byte-identical ones (one nested), a re-encoded one,
/// a changed one, one added, one removed, a text file, and links in and out of the tree.
fn mixed_tree(root: &Path) -> Tree {
    let tree = Tree::new(root);
    tree.same("same.png", 1);
    tree.same("deep/er/same.png", 2);
    tree.reencoded("reencoded.png", 3);
    tree.changed("sub/changed.png", 4, 10);
    tree.one_side(&tree.b, "new.png", 5);
    tree.one_side(&tree.a, "old.png", 6);
    std::fs::write(tree.a.join("notes.txt"), "not an image").unwrap();
    let outside = root.join("outside.png");
    std::fs::copy(tree.a.join("same.png"), &outside).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(&outside, tree.a.join("escape.png")).unwrap();
        symlink(&outside, tree.b.join("escape.png")).unwrap();
        symlink(tree.a.join("same.png"), tree.a.join("inside.png")).unwrap();
        symlink(tree.b.join("same.png"), tree.b.join("inside.png")).unwrap();
        symlink(&tree.a, tree.a.join("loop")).unwrap();
    }
    tree
}

#[test]
fn folders_pair_by_relative_path() {
    let dir = tempfile::tempdir().unwrap();
    let tree = mixed_tree(dir.path());
    let out = run(&[tree.a.as_os_str(), tree.b.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "added/removed: {}",
        stderr(&out)
    );
    assert_eq!(stderr(&out), "");
    let (records, summary) = lines(&out.stdout);
    let records = by_name(&records);
    let status = |name: &str| records[name]["status"].as_str().unwrap().to_owned();
    let names: Vec<&str> = records.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "deep/er/same.png",
            "inside.png",
            "new.png",
            "old.png",
            "reencoded.png",
            "same.png",
            "sub/changed.png"
        ]
    );
    assert_eq!(status("same.png"), "equal");
    assert_eq!(status("deep/er/same.png"), "equal");
    assert_eq!(status("inside.png"), "equal");
    assert_eq!(status("reencoded.png"), "equal");
    assert_eq!(status("sub/changed.png"), "changed");
    assert_eq!(status("new.png"), "added");
    assert_eq!(status("old.png"), "removed");
    assert_eq!(records["same.png"]["identical_files"], true);
    assert_eq!(records["reencoded.png"].get("identical_files"), None);
    assert_eq!(records["new.png"]["a"], serde_json::Value::Null);
    assert_eq!(records["old.png"]["b"], serde_json::Value::Null);
    // notes.txt, and both sides' escape.png and loop.
    assert_eq!(summary["skipped"], 3);
    for (key, count) in [
        ("pairs", 7),
        ("equal", 4),
        ("changed", 1),
        ("over_gate", 0),
        ("added", 1),
        ("removed", 1),
        ("errors", 0),
    ] {
        assert_eq!(summary[key], count, "{key}: {summary}");
    }
    assert!(summary["wall_ms"].as_f64().unwrap() > 0.0);

    let out = run(&[
        tree.a.as_os_str(),
        tree.b.as_os_str(),
        os("--allow-missing"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn records_carry_the_figures_of_json() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("x.png", 7, 5);
    tree.same("y.png", 8);
    let out = run(&[tree.a.as_os_str(), tree.b.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (records, _) = lines(&out.stdout);
    let records = by_name(&records);
    let changed = &records["x.png"];
    let single = diffimg(
        [tree.a.join("x.png"), tree.b.join("x.png")]
            .iter()
            .map(|p| p.as_os_str())
            .chain([os("--json")]),
    );
    let single: serde_json::Value = serde_json::from_str(&stdout(&single)).unwrap();
    for key in [
        "ratio",
        "percent",
        "width",
        "height",
        "channels",
        "bit_depth",
        "mean_abs_diff",
        "sum",
        "differing_pixels",
        "max_diff",
        "max_diff_at",
        "rms",
        "psnr",
        "bbox",
        "ignored_pixels",
    ] {
        assert_eq!(changed[key], single[key], "{key}");
    }
    assert_eq!(changed["engine"]["kind"], "cpu");
    assert_eq!(changed["a"], tree.a.join("x.png").to_str().unwrap());
    let mut keys: Vec<&str> = changed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "a",
            "b",
            "bbox",
            "bit_depth",
            "channels",
            "differing_pixels",
            "elapsed_ms",
            "engine",
            "height",
            "ignored_pixels",
            "max_diff",
            "max_diff_at",
            "mean_abs_diff",
            "name",
            "percent",
            "psnr",
            "ratio",
            "rms",
            "status",
            "sum",
            "width"
        ]
    );
    let same = &records["y.png"];
    assert_eq!(same["ratio"], 0.0);
    assert_eq!(
        (same["width"].as_u64(), same["height"].as_u64()),
        (Some(WIDTH.into()), Some(HEIGHT.into()))
    );
    assert_eq!(same["channels"], 4);
    assert_eq!(same["engine"], serde_json::Value::Null);
}

#[test]
fn gate_and_errors_set_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("big.png", 9, 2);
    tree.changed("small.png", 10, 500);
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let out = run(&[a, b, os("--max-ratio"), os("0.01")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (records, summary) = lines(&out.stdout);
    let records = by_name(&records);
    assert_eq!(records["big.png"]["status"], "over-gate");
    assert_eq!(records["small.png"]["status"], "changed");
    assert_eq!(summary["over_gate"], 1);
    let out = run(&[a, b, os("--max-ratio"), os("0.9")]);
    assert_eq!(out.status.code(), Some(0));
    // The largest channel difference as a gate: at it a pair passes, below it it does not.
    let largest = records["big.png"]["max_diff"].as_u64().unwrap();
    let most = records["small.png"]["max_diff"]
        .as_u64()
        .unwrap()
        .max(largest);
    let out = run(&[a, b, os("--max-diff"), os(&most.to_string())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&[a, b, os("--max-diff"), os(&(largest - 1).to_string())]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (records, _) = lines(&out.stdout);
    assert_eq!(by_name(&records)["big.png"]["status"], "over-gate");
    for bad in ["-1", "five", "inf"] {
        common::assert_error(&run(&[a, b, os("--max-diff"), os(bad)]), "--max-diff");
    }

    // A file that does not decode is an error record; the run goes on.
    std::fs::write(tree.a.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::copy(tree.a.join("big.png"), tree.b.join("broken.png")).unwrap();
    let out = run(&[a, b, os("--max-ratio"), os("0.9")]);
    assert_eq!(out.status.code(), Some(2));
    let (records, summary) = lines(&out.stdout);
    let records = by_name(&records);
    assert_eq!(records["broken.png"]["status"], "error");
    assert!(
        records["broken.png"]["error"]
            .as_str()
            .unwrap()
            .contains("broken.png")
    );
    assert_eq!(records["big.png"]["status"], "changed");
    assert_eq!(summary["errors"], 1);
    let err = stderr(&out);
    assert!(
        err.starts_with("error: 1 pair failed") && err.lines().count() == 1,
        "{err}"
    );
}

/// The changed-pixel count in every pair: its figures in the records (zero for identical
/// files), `--max-changed` as a gate, and single-pair records equal to `--json`'s.
#[test]
fn changed_pixels_gate_every_pair() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("big.png", 9, 2);
    tree.changed("small.png", 10, 500);
    tree.same("same.png", 11);
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let out = run(&[
        a,
        b,
        os("-t"),
        os("0.1"),
        os("--aa"),
        os("--max-changed"),
        os("5%"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (records, _) = lines(&out.stdout);
    let records = by_name(&records);
    assert_eq!(records["big.png"]["status"], "over-gate");
    assert_eq!(records["small.png"]["status"], "changed");
    assert_eq!(records["same.png"]["changed_pixels"], 0);
    assert_eq!(records["same.png"]["aa_pixels"], 0);
    let single = diffimg([
        tree.a.join("small.png").as_os_str(),
        tree.b.join("small.png").as_os_str(),
        os("-t"),
        os("0.1"),
        os("--aa"),
        os("--json"),
    ]);
    let single: serde_json::Value = serde_json::from_str(&stdout(&single)).unwrap();
    for key in [
        "changed_pixels",
        "aa_pixels",
        "changed_bbox",
        "regions",
        "threshold",
    ] {
        assert_eq!(records["small.png"][key], single[key], "{key}");
    }
    let out = run(&[a, b, os("--max-changed"), os("100000")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Byte-identical files skip the comparison but not the header checks: `--max-pixels` holds
/// for them, and their figures are those decoding gives.
#[test]
fn identical_files_obey_the_pixel_limit() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.same("same.png", 11);
    tree.reencoded("reencoded.png", 12);
    let forged = generate::header_only_png(1, i32::MAX as u32, 0, 8, false);
    for side in [&tree.a, &tree.b] {
        std::fs::write(side.join("forged.png"), &forged).unwrap();
        std::fs::copy(common::fixture("jpeg/cmyk-a.jpg"), side.join("cmyk.jpg")).unwrap();
    }
    let mut command = common::command();
    command.args([&tree.a, &tree.b]).args(["--max-pixels", "1"]);
    // Going through the forged image's rows would take many seconds of CPU time.
    let limit = libc::rlimit {
        rlim_cur: 5,
        rlim_max: 5,
    };
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            match libc::setrlimit(libc::RLIMIT_CPU, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let (records, _) = lines(&out.stdout);
    let records = by_name(&records);
    for name in ["same.png", "reencoded.png", "forged.png", "cmyk.jpg"] {
        assert_eq!(records[name]["status"], "error", "{name}");
        let error = records[name]["error"].as_str().unwrap();
        assert!(error.contains("exceeds the limit"), "{name}: {error}");
    }

    let out = run(&[tree.a.as_os_str(), tree.b.as_os_str()]);
    let (records, _) = lines(&out.stdout);
    let records = by_name(&records);
    assert_eq!(records["same.png"]["status"], "equal");
    assert_eq!(records["same.png"]["identical_files"], true);
    assert_eq!(records["cmyk.jpg"]["identical_files"], true);
    let single = diffimg([
        common::fixture("jpeg/cmyk-a.jpg").as_os_str(),
        tree.a.join("cmyk.jpg").as_os_str(),
        os("--json"),
    ]);
    let single: serde_json::Value = serde_json::from_str(&stdout(&single)).unwrap();
    for key in ["channels", "bit_depth", "mean_abs_diff", "psnr", "width"] {
        assert_eq!(records["cmyk.jpg"][key], single[key], "{key}");
    }
}

#[test]
fn pair_lists_resolve_against_their_folder() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("x.png", 13, 10);
    tree.same("y.png", 14);
    let list = dir.path().join("pairs.jsonl");
    std::fs::write(
        &list,
        "{\"a\": \"a/x.png\", \"b\": \"b/x.png\", \"name\": \"first\"}\n\n{\"a\": \"a/y.png\", \"b\": \"b/y.png\"}\n",
    )
    .unwrap();
    let out = common::command()
        .current_dir("/")
        .args([os("--pairs"), list.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (records, summary) = lines(&out.stdout);
    let records = by_name(&records);
    assert_eq!(records["first"]["status"], "changed");
    assert_eq!(records["a/y.png"]["status"], "equal");
    assert_eq!(summary["pairs"], 2);

    // From standard input, relative to the working folder.
    let mut child = common::command()
        .current_dir(dir.path())
        .args(["--pairs", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"a\": \"a/x.png\", \"b\": \"b/x.png\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (records, _) = lines(&out.stdout);
    assert_eq!(records[0]["name"], "a/x.png");
    assert_eq!(records[0]["status"], "changed");
}

#[test]
fn malformed_list_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bad.jsonl");
    for (text, cause) in [
        (
            "{\"a\": \"x.png\", \"b\": \"y.png\"}\n\n{\"a\": \"x.png\" \"b\": 1}\n",
            "bad.jsonl:3: ",
        ),
        ("{\"a\": \"x.png\"}\n", "bad.jsonl:1: missing field `b`"),
        (
            "{\"a\": \"x.png\", \"b\": \"y.png\", \"colour\": 1}\n",
            "bad.jsonl:1: unknown field `colour`",
        ),
        ("not json\n", "bad.jsonl:1: expected"),
    ] {
        std::fs::write(&list, text).unwrap();
        let out = run(&[os("--pairs"), list.as_os_str()]);
        common::assert_error(&out, cause);
    }
    let out = run(&[os("--pairs"), dir.path().join("missing.jsonl").as_os_str()]);
    common::assert_error(&out, "missing.jsonl: No such file");
}

#[test]
fn diff_folder_mirrors_names_and_refuses_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("sub/x.png", 15, 10);
    tree.same("y.png", 16);
    let diffs = dir.path().join("out/diffs");
    let out = run(&[
        tree.a.as_os_str(),
        tree.b.as_os_str(),
        os("--diff-dir"),
        diffs.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (records, _) = lines(&out.stdout);
    let records = by_name(&records);
    let diff = diffs.join("sub/x.png");
    assert_eq!(
        records["sub/x.png"]["diff"],
        diff.canonicalize().unwrap().to_str().unwrap()
    );
    let image = image::open(&diff).unwrap();
    assert_eq!((image.width(), image.height()), (WIDTH, HEIGHT));
    assert!(!diffs.join("y.png").exists());

    let list = dir.path().join("list.jsonl");
    let outside = dir.path().join("out/escaped.png");
    std::fs::write(
        &list,
        format!(
            "{{\"a\": \"a/sub/x.png\", \"b\": \"b/sub/x.png\", \"name\": \"../escaped.png\"}}\n\
             {{\"a\": \"a/sub/x.png\", \"b\": \"b/sub/x.png\", \"name\": \"{}\"}}\n\
             {{\"a\": \"a/sub/x.png\", \"b\": \"b/sub/x.png\", \"name\": \"fine/x.png\"}}\n",
            outside.display()
        ),
    )
    .unwrap();
    let out = run(&[
        os("--pairs"),
        list.as_os_str(),
        os("--diff-dir"),
        diffs.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let (records, _) = lines(&out.stdout);
    let records = by_name(&records);
    for name in ["../escaped.png", outside.to_str().unwrap()] {
        assert_eq!(records[name]["status"], "error");
        assert!(
            records[name]["error"]
                .as_str()
                .unwrap()
                .contains("outside the diff folder")
        );
    }
    assert_eq!(records["fine/x.png"]["status"], "changed");
    assert!(!outside.exists());
    assert!(diffs.join("fine/x.png").is_file());

    // A link inside the diff folder that leads out of it is refused too.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, diffs.join("link")).unwrap();
    std::fs::write(
        &list,
        "{\"a\": \"a/sub/x.png\", \"b\": \"b/sub/x.png\", \"name\": \"link/x.png\"}\n",
    )
    .unwrap();
    let out = run(&[
        os("--pairs"),
        list.as_os_str(),
        os("--diff-dir"),
        diffs.as_os_str(),
    ]);
    let (records, _) = lines(&out.stdout);
    assert_eq!(records[0]["status"], "error");
    assert!(
        records[0]["error"]
            .as_str()
            .unwrap()
            .contains("outside the diff folder")
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    // A pair that is now equal loses the diff image an earlier run left.
    std::fs::copy(tree.a.join("sub/x.png"), tree.b.join("sub/x.png")).unwrap();
    let out = run(&[
        tree.a.as_os_str(),
        tree.b.as_os_str(),
        os("--diff-dir"),
        diffs.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!diff.exists());
}

#[test]
fn unreadable_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.same("y.png", 17);
    let locked = tree.a.join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for path in [dir.path(), &tree.a, &tree.b] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut command = common::command();
    // Root reads any folder: run as nobody instead.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::process::CommandExt;
        command.uid(65534).gid(65534);
    }
    let out = command.args([&tree.a, &tree.b]).output().unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    common::assert_error(&out, "locked: Permission denied");
}

#[test]
fn jobs_do_not_change_results() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    for i in 0..12 {
        tree.changed(&format!("c{i}.png"), 100 + i, 3 + i as usize);
        tree.same(&format!("s{i}.png"), 200 + i);
    }
    let strip = |records: Vec<serde_json::Value>| {
        let mut records = by_name(&records);
        for record in records.values_mut() {
            record.as_object_mut().unwrap().remove("elapsed_ms");
        }
        records
    };
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let one = run(&[a, b, os("-j"), os("1")]);
    let four = run(&[a, b, os("--jobs"), os("4")]);
    assert_eq!(strip(lines(&one.stdout).0), strip(lines(&four.stdout).0));
    let out = run(&[a, b, os("-j"), os("0")]);
    common::assert_error(&out, "--jobs");
}

#[test]
fn gpu_pairs_match_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    for i in 0..6 {
        tree.changed(&format!("c{i}.png"), 300 + i, 4 + i as usize);
    }
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let figures = |out: &std::process::Output, engine: &str| {
        let (records, _) = lines(&out.stdout);
        let mut records = by_name(&records);
        for record in records.values_mut() {
            assert_eq!(record["status"], "changed", "{record}");
            assert_eq!(record["engine"]["kind"], engine);
            let record = record.as_object_mut().unwrap();
            record.remove("elapsed_ms");
            record.remove("engine");
        }
        records
    };
    let gpu = run(&[a, b, os("--backend"), os("gpu")]);
    let (records, _) = lines(&gpu.stdout);
    if let Some(error) = records.iter().find_map(|r| r["error"].as_str()) {
        assert!(error.contains("no GPU adapter"), "{error}");
        common::skip_without_gpu(error);
        return;
    }
    assert_eq!(gpu.status.code(), Some(0), "{}", stderr(&gpu));
    let cpu = run(&[a, b, os("--backend"), os("cpu")]);
    assert_eq!(figures(&gpu, "gpu"), figures(&cpu, "cpu"));
}

#[test]
fn report_in_a_missing_folder_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.same("y.png", 18);
    let report = dir.path().join("nowhere/report.html");
    let out = run(&[
        tree.a.as_os_str(),
        tree.b.as_os_str(),
        os("--report"),
        report.as_os_str(),
    ]);
    common::assert_error(&out, "nowhere does not exist");
}

/// The report's previews are read band by band and shrunk as they are read, `-j` pairs at a
/// time: two pairs of 4000x4000 images add about three previews' pixels to the run's memory,
/// not their whole images (over 200 MiB a pair as RGBA).
#[test]
fn report_previews_cost_their_own_pixels() {
    use diffimg::{Layout, Samples};
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    let side = 4000;
    let mut pixels = vec![40; side * side];
    for name in ["one.png", "two.png"] {
        common::write_png(
            &tree.a.join(name),
            side as u32,
            side as u32,
            Layout::L8,
            &Samples::U8(pixels.clone()),
        );
    }
    pixels[side * 2000..side * 2001].fill(200);
    for name in ["one.png", "two.png"] {
        common::write_png(
            &tree.b.join(name),
            side as u32,
            side as u32,
            Layout::L8,
            &Samples::U8(pixels.clone()),
        );
    }
    drop(pixels);
    let report = dir.path().join("report.html");
    let (out, rss) = common::diffimg_with_rss(&[
        tree.a.as_os_str(),
        tree.b.as_os_str(),
        os("-j"),
        os("1"),
        os("--report"),
        report.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(rss < 100 << 20, "peak memory {} MiB", rss >> 20);
    let (records, _) = lines(&out.stdout);
    assert!(records.iter().all(|r| r["status"] == "changed"));
    let files = dir.path().join("report_files");
    for n in 0..2 {
        for role in ["a", "b", "d"] {
            let preview = image::open(files.join(format!("{n}-{role}.png"))).unwrap();
            assert_eq!((preview.width(), preview.height()), (2048, 2048));
        }
        // The one changed row shows in the difference view, shrunk as it is.
        let diff = image::open(files.join(format!("{n}-d.png")))
            .unwrap()
            .to_rgba8();
        assert_eq!(diff.get_pixel(1000, 1024).0, [230, 20, 60, 255]);
    }
}
