//! Helpers shared by the integration tests: the binary, fixtures, tiny images, and the switch
//! that decides whether a missing GPU adapter fails a test or skips it.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

pub mod tree;

use diffimg::{Layout, Samples};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The `diffimg` binary, ready to run. Mesa's software Vulkan driver prints a line on stderr
/// when `XDG_RUNTIME_DIR` is unset, so it gets one.
pub fn command() -> Command {
    static RUNTIME_DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let mut command = Command::new(env!("CARGO_BIN_EXE_diffimg"));
    command.env_remove("WGPU_ADAPTER_NAME");
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let dir = RUNTIME_DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"));
        command.env("XDG_RUNTIME_DIR", dir.path());
    }
    command
}

/// The names of the files in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs the `diffimg` binary with `args`.
pub fn diffimg<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    command()
        .args(args)
        .output()
        .expect("the diffimg binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a run failed as bad input should: exit 2, nothing on stdout, and one `error:` line
/// on stderr that mentions `mentions`.
pub fn assert_error(out: &Output, mentions: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(stdout(out), "", "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected, got:\n{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(mentions),
        "{err:?} should mention {mentions:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs the binary like `common::diffimg` does, and also returns its peak resident memory in
/// bytes, from the kernel's accounting of that one child.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its memory"
)]
pub fn diffimg_with_rss(args: &[&std::ffi::OsStr]) -> (Output, u64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_diffimg"))
        .args(args)
        .env_remove("WGPU_ADAPTER_NAME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_end(&mut err).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for our own child, writing into the two locals; `child` is not waited
    // for again afterwards.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let output = Output {
        status: ExitStatus::from_raw(status),
        stdout: out,
        stderr: err,
    };
    (output, usage.ru_maxrss as u64 * 1024)
}

/// Writes a PNG of `width` x `height` pixels in `layout` with `samples`.
pub fn write_png(path: &Path, width: u32, height: u32, layout: Layout, samples: &Samples) {
    let mut encoder = png::Encoder::new(std::fs::File::create(path).unwrap(), width, height);
    encoder.set_color(match layout.channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    });
    let bytes: Vec<u8> = match samples {
        Samples::U8(v) => {
            encoder.set_depth(png::BitDepth::Eight);
            v.clone()
        }
        Samples::U16(v) => {
            encoder.set_depth(png::BitDepth::Sixteen);
            v.iter().flat_map(|s| s.to_be_bytes()).collect()
        }
        Samples::F32(_) => panic!("PNG has no floating-point samples"),
    };
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&bytes).unwrap();
    writer.finish().unwrap();
}

/// Random samples from a fixed seed, with about `equal_percent` of the samples equal to those
/// of `like` (when given), so that both differing and equal pixels occur.
pub fn random_samples(rng: &mut fastrand::Rng, len: usize, sixteen: bool) -> Samples {
    if sixteen {
        Samples::U16((0..len).map(|_| rng.u16(..)).collect())
    } else {
        Samples::U8((0..len).map(|_| rng.u8(..)).collect())
    }
}

/// A copy of `samples` with roughly one sample in `every` changed at random.
pub fn perturb(rng: &mut fastrand::Rng, samples: &Samples, every: usize) -> Samples {
    let mut out = samples.clone();
    match &mut out {
        Samples::U8(v) => v.iter_mut().for_each(|s| {
            if rng.usize(..every) == 0 {
                *s = rng.u8(..)
            }
        }),
        Samples::U16(v) => v.iter_mut().for_each(|s| {
            if rng.usize(..every) == 0 {
                *s = rng.u16(..)
            }
        }),
        Samples::F32(v) => v.iter_mut().for_each(|s| {
            if rng.usize(..every) == 0 {
                *s = rng.f32()
            }
        }),
    }
    out
}

/// Whether the GPU tests must run: `DIFFIMG_REQUIRE_GPU=1` makes a missing adapter a failure.
pub fn gpu_required() -> bool {
    std::env::var("DIFFIMG_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// Says a GPU test was skipped, or fails it when a GPU is required.
pub fn skip_without_gpu(why: &str) {
    assert!(
        !gpu_required(),
        "no GPU adapter, and DIFFIMG_REQUIRE_GPU=1: {why}"
    );
    eprintln!("skipped: no GPU adapter ({why}); set DIFFIMG_REQUIRE_GPU=1 to require one");
}

/// Runs the binary with `args` with its data segment and private mappings limited to
/// `data_bytes` (`RLIMIT_DATA`) and its processor time to `cpu_s` seconds (`RLIMIT_CPU`), so
/// that a run costing more fails. A run still going after a minute (a hang, as on a named pipe
/// that is never written) is killed and fails the test: a guard, not a measure of speed.
pub fn diffimg_bounded(args: &[&std::ffi::OsStr], data_bytes: u64, cpu_s: u64) -> Output {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut command = command();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let limit = |value: u64| libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    let (data, cpu) = (limit(data_bytes), limit(cpu_s));
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_DATA, &data) == 0
                && libc::setrlimit(libc::RLIMIT_CPU, &cpu) == 0
            {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = command.spawn().expect("the diffimg binary runs");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let guard = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > guard {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after a minute: killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}
