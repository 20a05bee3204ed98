//! Writing the diff image when things go wrong: a disk that fills up in the last bytes, targets
//! that are symbolic links, devices or process files, signals mid-run, formats that cannot hold
//! the diff, and the mode and durability of the file that replaces the target. A run either
//! leaves a complete diff image or exits 2 with one `error:` line and the target untouched.

mod common;
#[path = "fixtures/bad/generate.rs"]
#[allow(dead_code)]
mod generate;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_error, command, diffimg, files_in, random_samples, stderr, write_png};
use diffimg::Layout;

/// A noise pair of `width` x `height` RGBA pixels in `dir`.
fn noise_pair(dir: &Path, width: u32, height: u32) -> (PathBuf, PathBuf) {
    let mut rng = fastrand::Rng::with_seed(7);
    let len = width as usize * height as usize * 4;
    let (a, b) = (dir.join("a.png"), dir.join("b.png"));
    write_png(
        &a,
        width,
        height,
        Layout::RGBA8,
        &random_samples(&mut rng, len, false),
    );
    write_png(
        &b,
        width,
        height,
        Layout::RGBA8,
        &random_samples(&mut rng, len, false),
    );
    (a, b)
}

fn run(args: &[&OsStr]) -> std::process::Output {
    diffimg(args)
}

/// The disk fills up at byte N of the diff image: at every offset of its last chunks (the last
/// image data, IEND) and at a few earlier ones, the run fails and leaves nothing, where the
/// PNG stream's final chunks used to be written by destructors that dropped the error.
#[test]
fn a_disk_that_fills_up_at_any_byte_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = noise_pair(dir.path(), 64, 48);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let diff = out_dir.join("diff.png");
    let whole = run(&[
        a.as_os_str(),
        b.as_os_str(),
        "-f".as_ref(),
        diff.as_os_str(),
    ]);
    assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
    let size = std::fs::metadata(&diff).unwrap().len();
    std::fs::remove_file(&diff).unwrap();
    let offsets = (size.saturating_sub(80)..size).chain([0, 1, 8, 33, size / 2]);
    for full_at in offsets {
        let out = command()
            .args([
                a.as_os_str(),
                b.as_os_str(),
                "-f".as_ref(),
                diff.as_os_str(),
            ])
            .env("DIFFIMG_TEST_DISK_FULL_AT", full_at.to_string())
            .output()
            .unwrap();
        assert_error(&out, "diff.png");
        assert_eq!(
            files_in(&out_dir),
            Vec::<String>::new(),
            "at byte {full_at}"
        );
    }
    // The same hook with room for the whole file changes nothing.
    let out = command()
        .args([
            a.as_os_str(),
            b.as_os_str(),
            "-f".as_ref(),
            diff.as_os_str(),
        ])
        .env("DIFFIMG_TEST_DISK_FULL_AT", size.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&diff).unwrap().len(), size);
}

/// A real file system that is full before the last bytes: a small tmpfs, where the machine
/// lets the tests mount one (as root); the hook above covers every other machine.
#[test]
fn a_small_full_file_system_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = noise_pair(dir.path(), 200, 100);
    let full = dir.path().join("full.png");
    let out = run(&[
        a.as_os_str(),
        b.as_os_str(),
        "-f".as_ref(),
        full.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A file system a page short of the diff: the last bytes, written when the encoder
    // finishes, do not fit.
    let size = std::fs::metadata(&full).unwrap().len();
    assert_ne!(size % 4096, 0);
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={}", size / 4096 * 4096),
            "tmpfs",
        ])
        .arg(&mount)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root); the disk-full hook test ran");
        return;
    }
    let diff = mount.join("diff.png");
    let out = run(&[
        a.as_os_str(),
        b.as_os_str(),
        "-f".as_ref(),
        diff.as_os_str(),
    ]);
    let left = files_in(&mount);
    let _ = std::process::Command::new("umount").arg(&mount).status();
    assert_error(&out, "diff.png");
    assert_eq!(left, Vec::<String>::new());
}

/// A link to a regular file is written through: the file is replaced, the link stays. A
/// dangling link, a link to a device, `/dev/stdout` and `/proc/self/fd/1` are refused, and
/// nothing in `/dev` is renamed.
#[test]
fn symbolic_links_devices_and_process_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = noise_pair(dir.path(), 8, 8);
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("diff.png");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.png");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = run(&[
        a.as_os_str(),
        b.as_os_str(),
        "-f".as_ref(),
        link.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(image::open(&real).is_ok(), "the link's file holds the diff");
    assert_eq!(files_in(&real_dir), ["diff.png"]);

    let dangling = dir.path().join("dangling.png");
    std::os::unix::fs::symlink(dir.path().join("missing.png"), &dangling).unwrap();
    let out = run(&[
        a.as_os_str(),
        b.as_os_str(),
        "-f".as_ref(),
        dangling.as_os_str(),
    ]);
    assert_error(&out, "does not exist");
    assert!(!dir.path().join("missing.png").exists());

    let null = dir.path().join("null.png");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    let fd = dir.path().join("fd.png");
    std::os::unix::fs::symlink("/proc/self/fd/1", &fd).unwrap();
    let stdout_before = std::fs::read_link("/dev/stdout").ok();
    for target in [
        null.as_path(),
        fd.as_path(),
        Path::new("/dev/stdout"),
        Path::new("/proc/self/fd/1"),
        Path::new("/dev/null"),
    ] {
        let out = run(&[
            a.as_os_str(),
            b.as_os_str(),
            "-f".as_ref(),
            target.as_os_str(),
        ]);
        assert_error(&out, "");
        assert!(
            stderr(&out).contains("not a regular file") || stderr(&out).contains("is in /"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read_link("/dev/stdout").ok(), stdout_before);
    assert!(
        std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let dev_leftovers = std::fs::read_dir("/dev")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".diffimg-")
        })
        .count();
    assert_eq!(dev_leftovers, 0);
}

/// SIGINT, SIGTERM and SIGHUP mid-run: the temporary file is removed, the existing target is
/// left as it was, and the process ends by the signal. (SIGKILL cannot be caught: its
/// temporary file stays, as `docs/robustness.md` says.)
#[test]
fn signals_mid_run_remove_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = noise_pair(dir.path(), 1500, 1500);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let diff = out_dir.join("diff.png");
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        std::fs::write(&diff, b"previous").unwrap();
        let mut child = command()
            .args([
                a.as_os_str(),
                b.as_os_str(),
                "-f".as_ref(),
                diff.as_os_str(),
            ])
            .args(["--compression", "best"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while files_in(&out_dir).len() < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no temporary file"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before the signal"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert_eq!(files_in(&out_dir), ["diff.png"], "signal {signal}");
        assert_eq!(std::fs::read(&diff).unwrap(), b"previous");
    }
}

/// Formats that cannot hold the diff exactly are refused before anything is compared, with a
/// reason; PGM and PPM are written as named; BMP keeps grey+alpha's alpha.
#[test]
fn formats_that_cannot_hold_the_diff_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = noise_pair(dir.path(), 8, 6);
    let try_write = |name: &str, extra: &[&str]| {
        let target = dir.path().join(name);
        let mut args = vec![
            a.as_os_str(),
            b.as_os_str(),
            "-f".as_ref(),
            target.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        let out = run(&args);
        (out, target)
    };
    for (name, reason) in [
        ("d.gif", "256 colours"),
        ("d.pbm", "one bit per pixel"),
        ("d.pgm", "grey images only"),
        ("d.ppm", "no alpha channel"),
        ("d.pnm", "no alpha channel"),
    ] {
        let (out, target) = try_write(name, &[]);
        assert_error(&out, reason);
        assert!(!target.exists());
    }
    // Without alpha counted, the diff's alpha is 255 and PPM may drop it.
    let (out, ppm) = try_write("d.ppm", &["--ignore-alpha"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(&ppm).unwrap().starts_with(b"P6\n"));
    let (out, pnm) = try_write("d.pnm", &["--ignore-alpha"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(&pnm).unwrap().starts_with(b"P6\n"));

    // Grey images: PGM is P5; BMP keeps grey+alpha's alpha exactly.
    let mut rng = fastrand::Rng::with_seed(9);
    let (ga, gb) = (dir.path().join("ga.png"), dir.path().join("gb.png"));
    for (path, layout) in [(&ga, Layout::LA8), (&gb, Layout::LA8)] {
        write_png(
            path,
            8,
            6,
            layout,
            &random_samples(&mut rng, 8 * 6 * 2, false),
        );
    }
    let (grey, grey_b) = (dir.path().join("g.png"), dir.path().join("h.png"));
    write_png(
        &grey,
        8,
        6,
        Layout::L8,
        &random_samples(&mut rng, 48, false),
    );
    write_png(
        &grey_b,
        8,
        6,
        Layout::L8,
        &random_samples(&mut rng, 48, false),
    );
    let pgm = dir.path().join("g.pgm");
    let out = run(&[
        grey.as_os_str(),
        grey_b.as_os_str(),
        "-f".as_ref(),
        pgm.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(&pgm).unwrap().starts_with(b"P5\n"));
    let (bmp, png) = (dir.path().join("ga.bmp"), dir.path().join("ga-diff.png"));
    for target in [&bmp, &png] {
        let out = run(&[
            ga.as_os_str(),
            gb.as_os_str(),
            "-f".as_ref(),
            target.as_os_str(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let from_bmp = image::open(&bmp).unwrap().to_rgba8();
    let from_png = image::open(&png).unwrap().to_rgba8();
    assert_eq!(from_bmp, from_png, "BMP holds the grey+alpha diff exactly");
}

/// Formats held whole in memory are bounded: past a format's own size limit, or past the
/// limit on images held whole, the run is refused before anything is decoded or compared.
#[test]
fn formats_held_whole_are_bounded_up_front() {
    let dir = tempfile::tempdir().unwrap();
    // Headers alone, with no image data: a refusal that names the format shows that it came
    // before any row was decoded.
    let wide = dir.path().join("wide.png");
    let big = dir.path().join("big.png");
    std::fs::write(
        &wide,
        generate::header_only_png(20000, 2, generate::GREY, 8, false),
    )
    .unwrap();
    std::fs::write(
        &big,
        generate::header_only_png(16385, 16385, generate::GREY, 8, false),
    )
    .unwrap();
    let webp = dir.path().join("d.webp");
    let out = run(&[
        wide.as_os_str(),
        wide.as_os_str(),
        "-f".as_ref(),
        webp.as_os_str(),
    ]);
    assert_error(&out, "at most 16383 pixels");
    let tiff = dir.path().join("d.tiff");
    let out = run(&[
        big.as_os_str(),
        big.as_os_str(),
        "-f".as_ref(),
        tiff.as_os_str(),
    ]);
    assert_error(&out, "built whole in memory");
    assert!(!webp.exists() && !tiff.exists());
}

/// The new file gets the mode of the file it replaces, or the umask's for a new one, and not
/// a fixed 0644.
#[test]
fn modes_follow_the_replaced_file_and_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = noise_pair(dir.path(), 4, 4);
    let kept = dir.path().join("kept.png");
    std::fs::write(&kept, b"old").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&[
        a.as_os_str(),
        b.as_os_str(),
        "-f".as_ref(),
        kept.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&kept), 0o600);
    let fresh = dir.path().join("fresh.png");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 027 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_diffimg"))
        .args([
            a.as_os_str(),
            b.as_os_str(),
            "-f".as_ref(),
            fresh.as_os_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&fresh), 0o640);
}
