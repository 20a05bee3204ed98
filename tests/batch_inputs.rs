//! Batch runs never harm their inputs: a diff folder that is, holds or lies in an input folder
//! is refused before anything is written, and only diff images this tool wrote are removed.
//! Also the messages of folders a batch run cannot use.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::tree::{Tree, lines, run};
use common::{assert_error, stderr};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Every file under `dir` with its bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(snapshot(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found.sort();
    found
}

#[test]
fn diff_folder_overlapping_an_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.same("same.png", 1);
    tree.changed("sub/changed.png", 2, 10);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&tree.a, &link).unwrap();
    let before = snapshot(dir.path());
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    for (diffs, says) in [
        (tree.a.clone(), "is the input folder"),
        (tree.b.clone(), "is the input folder"),
        (link.clone(), "is the input folder"),
        (tree.a.join("sub"), "lies in the input folder"),
        (tree.a.join("new/diffs"), "lies in the input folder"),
        (link.join("new"), "lies in the input folder"),
        (dir.path().to_owned(), "holds the input folder"),
        (tree.a.join("new/../../b"), "is the input folder"),
    ] {
        let out = run(&[a, b, os("--diff-dir"), diffs.as_os_str()]);
        assert_error(&out, says);
        assert!(stderr(&out).contains(&*diffs.to_string_lossy()));
        assert_eq!(snapshot(dir.path()), before, "{}", diffs.display());
        assert!(!tree.a.join("new").exists());
    }

    // A pair list: the folders of the files it names are inputs.
    let list = dir.path().join("list.jsonl");
    std::fs::write(
        &list,
        "{\"a\": \"a/sub/changed.png\", \"b\": \"b/sub/changed.png\", \"name\": \"x.png\"}\n",
    )
    .unwrap();
    let before = snapshot(dir.path());
    for (diffs, says) in [
        (tree.a.join("sub"), "is the input folder"),
        (tree.b.join("sub/diffs"), "lies in the input folder"),
        (tree.a.clone(), "holds the input folder"),
    ] {
        let out = run(&[
            os("--pairs"),
            list.as_os_str(),
            os("--diff-dir"),
            diffs.as_os_str(),
        ]);
        assert_error(&out, says);
        assert_eq!(snapshot(dir.path()), before, "{}", diffs.display());
    }
    let diffs = dir.path().join("diffs");
    let out = run(&[
        os("--pairs"),
        list.as_os_str(),
        os("--diff-dir"),
        diffs.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(diffs.join("x.png").is_file());
}

#[test]
fn only_diff_images_are_removed_from_the_diff_folder() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.same("same.png", 1);
    tree.changed("changed.png", 2, 10);
    let diffs = dir.path().join("diffs");
    std::fs::create_dir(&diffs).unwrap();
    // Not a diff image: a file of the user's where an equal pair's diff image would go.
    std::fs::copy(tree.a.join("same.png"), diffs.join("same.png")).unwrap();
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let out = run(&[a, b, os("--diff-dir"), diffs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(diffs.join("same.png").is_file());
    assert!(diffs.join("changed.png").is_file());
    // The diff image of a pair that is now equal is removed.
    std::fs::copy(tree.a.join("changed.png"), tree.b.join("changed.png")).unwrap();
    let out = run(&[a, b, os("--diff-dir"), diffs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!diffs.join("changed.png").exists());
    assert!(diffs.join("same.png").is_file());
}

#[test]
fn unusable_folders_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.changed("changed.png", 2, 10);
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let file = dir.path().join("file.png");
    std::fs::write(&file, b"mine").unwrap();
    let out = run(&[a, b, os("--diff-dir"), file.as_os_str()]);
    assert_error(&out, "file.png: exists and is not a folder");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");

    let missing = dir.path().join("missing");
    assert_error(&run(&[a, missing.as_os_str()]), "missing: does not exist");
    assert_error(&run(&[missing.as_os_str(), b]), "missing: does not exist");
    let (records, _) = lines(&run(&[a, b]).stdout);
    assert_eq!(records.len(), 1);
}
