//! The build script warns when `nasm` cannot be run, since the JPEG decoder's SIMD code is then
//! left out without a word. Runs the compiled build script with a `PATH` of the test's making.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The compiled build scripts of this package, under the target folder's `build/`.
fn build_scripts() -> Vec<PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let scripts: Vec<PathBuf> = std::fs::read_dir(profile.join("build"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("diffimg-")
        })
        .map(|dir| dir.join("build-script-build"))
        .filter(|script| script.is_file())
        .collect();
    assert!(!scripts.is_empty(), "no compiled build script of diffimg");
    scripts
}

/// What the build script prints for `arch` with `path` as its `PATH`.
fn run(script: &Path, arch: &str, path: &Path) -> String {
    let out = Command::new(script)
        .env_clear()
        .env("PATH", path)
        .env("CARGO_CFG_TARGET_ARCH", arch)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A folder holding an executable `nasm` that prints `version`.
fn fake_nasm(version: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let nasm = dir.path().join("nasm");
    std::fs::write(&nasm, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
    std::fs::set_permissions(&nasm, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn warns_without_nasm_on_x86() {
    let empty = tempfile::tempdir().unwrap();
    for script in build_scripts() {
        for arch in ["x86_64", "x86"] {
            let out = run(&script, arch, empty.path());
            assert!(
                out.lines()
                    .any(|l| l.starts_with("cargo:warning=nasm (2.x or later) not found")),
                "{arch}: {out}"
            );
        }
    }
}

#[test]
fn warns_with_a_useless_nasm() {
    let old = fake_nasm("NASM version 0.98.39 compiled on Jan  1 2000");
    for script in build_scripts() {
        let out = run(&script, "x86_64", old.path());
        assert!(out.contains("cargo:warning=nasm"), "{out}");
    }
}

#[test]
fn quiet_with_nasm_or_off_x86() {
    let nasm = fake_nasm("NASM version 2.16.01");
    let empty = tempfile::tempdir().unwrap();
    for script in build_scripts() {
        assert!(!run(&script, "x86_64", nasm.path()).contains("cargo:warning"));
        assert!(!run(&script, "aarch64", empty.path()).contains("cargo:warning"));
    }
}
