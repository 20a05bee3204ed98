//! Names in batch mode: every diff image at its own path, names that are not UTF-8 kept byte
//! for byte, and pair lists whose lines are too long or of the wrong form.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Output;

use common::tree::{Tree, lines, run};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Runs a pair list of `lines` (JSON objects) written beside `tree`, with `extra` arguments.
fn run_list(tree: &Tree, lines: &str, extra: &[&OsStr]) -> Output {
    let list = tree.root.join("list.jsonl");
    std::fs::write(&list, lines).unwrap();
    let mut args = vec![os("--pairs"), list.as_os_str()];
    args.extend(extra);
    run(&args)
}

fn pair_line(a: &str, b: &str, name: &str) -> String {
    format!("{{\"a\": \"a/{a}\", \"b\": \"b/{b}\", \"name\": \"{name}\"}}\n")
}

#[test]
fn names_with_one_diff_image_path_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("foo.jpg", 1, 5);
    tree.changed("foo.jpg.png", 2, 5);
    let diffs = dir.path().join("diffs");
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let out = run(&[a, b, os("--diff-dir"), diffs.as_os_str()]);
    common::assert_error(&out, "'foo.jpg' and 'foo.jpg.png'");
    assert!(!diffs.exists(), "nothing written");

    for (first, second) in [
        ("a", "a.png"),
        ("d/x", "d/./x"),
        ("e//y", "e/y"),
        ("g", "g.png/h"),
    ] {
        let list =
            pair_line("foo.png", "foo.png", first) + &pair_line("foo.png", "foo.png", second);
        let out = run_list(&tree, &list, &[os("--diff-dir"), diffs.as_os_str()]);
        common::assert_error(&out, &format!("'{first}' and '{second}'"));
        assert!(!diffs.exists(), "nothing written");
    }
}

#[test]
fn diff_images_go_to_normalised_distinct_paths() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("x.png", 3, 5);
    let diffs = dir.path().join("diffs");
    let list = ["f/z/", "./k//m", "n.PNG"]
        .map(|name| pair_line("x.png", "x.png", name))
        .concat();
    let out = run_list(&tree, &list, &[os("--diff-dir"), diffs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let (records, _) = lines(&out.stdout);
    let real = diffs.canonicalize().unwrap();
    let mut paths: Vec<String> = records
        .iter()
        .map(|r| r["diff"].as_str().unwrap().to_owned())
        .collect();
    paths.sort();
    let expected = ["f/z.png", "k/m.png", "n.PNG"].map(|p| real.join(p));
    let mut expected: Vec<String> = expected.iter().map(|p| p.display().to_string()).collect();
    expected.sort();
    assert_eq!(paths, expected);
    assert!(paths.iter().all(|p| Path::new(p).is_file()));
}

/// FNV-1a, 64 bits, as the shards hash names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn names_that_are_not_utf8_pair_by_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    let (fe, ff) = (
        OsStr::from_bytes(b"x\xfe.png"),
        OsStr::from_bytes(b"x\xff.png"),
    );
    tree.one_side(&tree.a, "x.png", 4);
    std::fs::rename(tree.a.join("x.png"), tree.a.join(fe)).unwrap();
    tree.one_side(&tree.b, "x.png", 4);
    std::fs::rename(tree.b.join("x.png"), tree.b.join(ff)).unwrap();
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let out = run(&[a, b]);
    let (records, summary) = lines(&out.stdout);
    assert_eq!(summary["pairs"], 2, "{records:?}");
    assert_eq!(summary["removed"], 1);
    assert_eq!(summary["added"], 1);
    let bytes: Vec<&str> = records
        .iter()
        .map(|r| r["name_bytes"].as_str().unwrap())
        .collect();
    assert!(bytes.contains(&"78fe2e706e67") && bytes.contains(&"78ff2e706e67"));
    assert!(records.iter().all(|r| r["name"] == "x\u{fffd}.png"));

    // Both names on both sides: two pairs, neither dropped.
    std::fs::copy(tree.a.join(fe), tree.a.join(ff)).unwrap();
    std::fs::copy(tree.a.join(fe), tree.b.join(fe)).unwrap();
    std::fs::copy(tree.a.join(fe), tree.b.join(ff)).unwrap();
    let (records, summary) = lines(&run(&[a, b]).stdout);
    assert_eq!(summary["pairs"], 2, "{records:?}");
    assert_eq!(summary["equal"], 2);

    // Each name in the shard its bytes hash to.
    for k in 1..=7u64 {
        let shard = format!("{k}/7");
        let out = run(&[a, b, os("--shard"), os(&shard)]);
        let (records, _) = lines(&out.stdout);
        let mut found: Vec<&str> = records
            .iter()
            .map(|r| r["name_bytes"].as_str().unwrap())
            .collect();
        found.sort();
        let mut expected = Vec::new();
        for (hex, raw) in [
            ("78fe2e706e67", b"x\xfe.png"),
            ("78ff2e706e67", b"x\xff.png"),
        ] {
            if fnv1a(raw) % 7 == k - 1 {
                expected.push(hex);
            }
        }
        assert_eq!(found, expected, "shard {shard}");
    }

    // The same form in a pair list.
    let list = "{\"a\": \"a/x.png\", \"b\": \"b/x.png\", \"name_bytes\": \"78fe\"}\n\
                {\"a\": \"a/x.png\", \"b\": \"b/x.png\", \"name_bytes\": \"78ff\"}\n";
    std::fs::copy(tree.a.join(fe), tree.a.join("x.png")).unwrap();
    std::fs::copy(tree.a.join(fe), tree.b.join("x.png")).unwrap();
    let out = run_list(&tree, list, &[]);
    let (records, summary) = lines(&out.stdout);
    assert_eq!(summary["pairs"], 2);
    let mut bytes: Vec<&str> = records
        .iter()
        .map(|r| r["name_bytes"].as_str().unwrap())
        .collect();
    bytes.sort();
    assert_eq!(bytes, ["78fe", "78ff"]);
    let out = run_list(
        &tree,
        "{\"a\": \"a\", \"b\": \"b\", \"name_bytes\": \"7g\"}\n",
        &[],
    );
    common::assert_error(&out, "list.jsonl:1: ");
}

#[test]
fn list_lines_must_be_objects() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    let out = run_list(&tree, "[\"a\", \"b\"]\n", &[]);
    common::assert_error(&out, "list.jsonl:1: ");
    let err = common::stderr(&out);
    assert!(
        err.contains("a JSON object") && !err.contains("ListLine"),
        "{err}"
    );
}

#[test]
fn long_list_lines_are_refused_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("long.jsonl");
    let mut text = b"{\"a\": \"x.png\", \"b\": \"y.png\"}\n{\"a\": \"".to_vec();
    text.resize(text.len() + (96 << 20), b'x');
    text.extend_from_slice(b"\", \"b\": \"y.png\"}\n");
    std::fs::write(&list, text).unwrap();
    let out = common::diffimg_bounded(&[os("--pairs"), list.as_os_str()], 512 << 20, 60);
    common::assert_error(&out, "long.jsonl:2: ");
    assert!(
        common::stderr(&out).contains("1 MiB"),
        "{}",
        common::stderr(&out)
    );
}
