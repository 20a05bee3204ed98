//! Several runs at once: runs writing into one folder, and runs replacing one file, all end
//! with every output complete and correct, and no temporary file left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;

use common::{command, files_in, random_samples, write_png};
use diffimg::Layout;

const SIZE: (u32, u32) = (200, 150);

/// Writes pair `i`: random images from seed `i`; returns their paths and expected diff pixels.
fn pair(dir: &Path, i: u64) -> (PathBuf, PathBuf, Vec<u8>) {
    let layout = Layout::RGBA8;
    let len = (SIZE.0 * SIZE.1 * 4) as usize;
    let mut rng = fastrand::Rng::with_seed(i);
    let (a, b) = (
        random_samples(&mut rng, len, false),
        random_samples(&mut rng, len, false),
    );
    let (pa, pb) = (dir.join(format!("a{i}.png")), dir.join(format!("b{i}.png")));
    write_png(&pa, SIZE.0, SIZE.1, layout, &a);
    write_png(&pb, SIZE.0, SIZE.1, layout, &b);
    let expected = a
        .as_bytes()
        .iter()
        .zip(b.as_bytes())
        .map(|(x, y)| x.abs_diff(*y))
        .collect();
    (pa, pb, expected)
}

fn spawn(a: &Path, b: &Path, out: &Path) -> Child {
    command()
        .arg(a)
        .arg(b)
        .arg("-f")
        .arg(out)
        .arg("--backend")
        .arg("cpu")
        .spawn()
        .unwrap()
}

fn decoded(path: &Path) -> Vec<u8> {
    image::open(path).unwrap().to_rgba8().into_raw()
}

#[test]
fn runs_into_one_folder_each_write_their_own_file() {
    let inputs = tempfile::tempdir().unwrap();
    let outputs = tempfile::tempdir().unwrap();
    let pairs: Vec<_> = (0..8).map(|i| pair(inputs.path(), i)).collect();
    let children: Vec<_> = pairs
        .iter()
        .enumerate()
        .map(|(i, (a, b, _))| spawn(a, b, &outputs.path().join(format!("diff{i}.png"))))
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    for (i, (_, _, expected)) in pairs.iter().enumerate() {
        assert!(
            decoded(&outputs.path().join(format!("diff{i}.png"))) == *expected,
            "diff{i}"
        );
    }
    assert_eq!(
        files_in(outputs.path()).len(),
        pairs.len(),
        "{:?}",
        files_in(outputs.path())
    );
}

#[test]
fn runs_replacing_one_file_leave_one_complete_diff() {
    let inputs = tempfile::tempdir().unwrap();
    let outputs = tempfile::tempdir().unwrap();
    let target = outputs.path().join("diff.png");
    let pairs: Vec<_> = (10..16).map(|i| pair(inputs.path(), i)).collect();
    for round in 0..3 {
        let children: Vec<_> = pairs.iter().map(|(a, b, _)| spawn(a, b, &target)).collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let written = decoded(&target);
        assert!(
            pairs.iter().any(|(_, _, expected)| written == *expected),
            "round {round}: a complete diff of one pair"
        );
        assert_eq!(files_in(outputs.path()), ["diff.png"]);
    }
}

#[test]
fn a_reader_never_sees_a_partial_file() {
    let inputs = tempfile::tempdir().unwrap();
    let outputs = tempfile::tempdir().unwrap();
    let target = outputs.path().join("diff.png");
    let (a, b, expected) = pair(inputs.path(), 20);
    assert!(spawn(&a, &b, &target).wait().unwrap().success());
    let mut writer = spawn(&a, &b, &target);
    // Whatever moment it is read at, the file is the whole diff.
    while writer.try_wait().unwrap().is_none() {
        assert!(decoded(&target) == expected);
    }
    assert!(decoded(&target) == expected);
}
