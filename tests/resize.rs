//! `--resize`: the ratios the original diffimg prints after resizing (Pillow's resize), and what
//! resizing may cost: images made larger in little memory, a budget in bytes derived from
//! `--max-pixels`, and a one-line error in words when a resize exceeds it. Pixel-for-pixel
//! agreement with Pillow for every layout is checked by the Python tests, which have Pillow.

mod common;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_error, diffimg, fixture, stderr, stdout, write_png};
use diffimg::{Layout, Samples};

/// Memory a run may allocate where resizing must not hold the resized image (a debug build of
/// the binary takes about 15 MiB for the runs below).
const SMALL: u64 = 64 << 20;

/// Runs the binary with its data segment and private mappings limited to `bytes`
/// (`RLIMIT_DATA`), so that a run that would allocate more fails. (A child's peak resident
/// memory cannot be read reliably here: the kernel starts it from this process's peak.)
fn diffimg_within(bytes: u64, args: &[&OsStr]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = common::command();
    command.args(args);
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.output().unwrap()
}

/// A grey 8-bit PNG of `width` x `height` in `dir`, with a ramp so that resizing has work.
fn ramp(dir: &Path, width: u32, height: u32) -> PathBuf {
    let path = dir.join(format!("ramp-{width}x{height}.png"));
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let mut row = vec![0u8; width as usize];
    for y in 0..height as usize {
        for (x, sample) in row.iter_mut().enumerate() {
            *sample = ((y * width as usize + x) % 251) as u8;
        }
        stream.write_all(&row).unwrap();
    }
    stream.finish().unwrap();
    writer.finish().unwrap();
    path
}

fn ratio(args: &[&OsStr]) -> String {
    let out = diffimg(args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn ratios_after_resizing_are_diffimgs() {
    let (mario, yandex) = (fixture("mario-circle-cs.png"), fixture("yandex1.png"));
    let (mario, yandex) = (mario.as_os_str(), yandex.as_os_str());
    let resize = OsStr::new("--resize");
    let ignore_alpha = OsStr::new("--ignore-alpha");
    // Values printed by diffimg 0.3.0 on Pillow: image 2 resized to image 1's size.
    assert_eq!(
        ratio(&[mario, yandex, resize, ignore_alpha]),
        "0.3503192421617232"
    );
    assert_eq!(ratio(&[mario, yandex, resize]), "0.3845956579263376");
    assert_eq!(ratio(&[yandex, mario, resize]), "0.382925971106781");
}

/// A 4096x1 image resized to 4096x4096 used to take 16 bytes per pixel of the result (an
/// image of 32-bit floats, 256 MiB); its rows are now computed band by band as they are diffed.
#[test]
fn enlarging_does_not_hold_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let (big, row) = (ramp(dir.path(), 4096, 4096), ramp(dir.path(), 4096, 1));
    let args = [big.as_os_str(), row.as_os_str(), OsStr::new("--resize")];
    let out = diffimg_within(SMALL, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// 100000x1 resized to 1x100000: the horizontal pass leaves one pixel, the vertical one makes
/// 100000 rows. Nothing of 100000x100000 pixels is made or reported.
#[test]
fn wide_to_tall_is_compared() {
    let dir = tempfile::tempdir().unwrap();
    let (tall, wide) = (ramp(dir.path(), 1, 100_000), ramp(dir.path(), 100_000, 1));
    let args = [
        tall.as_os_str(),
        wide.as_os_str(),
        OsStr::new("--resize"),
        OsStr::new("--json"),
    ];
    let out = diffimg_within(SMALL, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(1), Some(100_000))
    );
}

/// Resizing a 100x100 RGB 16-bit image to 50x60 holds it (60000 bytes) and its 100 rows at
/// the new width (30000 bytes), over the 40000 bytes that `--max-pixels 10000` allows although
/// both images are within 10000 pixels. The error says so in one line, naming the image.
#[test]
fn resizing_over_the_budget_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_png(
        &a,
        50,
        60,
        Layout::RGB16,
        &Samples::U16(vec![9 * 257; 9_000]),
    );
    write_png(
        &b,
        100,
        100,
        Layout::RGB16,
        &Samples::U16(vec![7 * 257; 30_000]),
    );
    let limit = ["--max-pixels", "10000"];
    let args = [a.as_os_str(), b.as_os_str(), OsStr::new("--resize")];
    let out = diffimg(args.iter().copied().chain(limit.map(OsStr::new)));
    assert_error(
        &out,
        "b.png: resizing it from 100x100 to 50x60 would hold 90000 bytes, over the 40000 \
         bytes that the pixel limit allows (raise it with --max-pixels)",
    );
    // Raised, the same pair is compared: 9 against 7 everywhere, at 16 bits.
    let raised = ["--max-pixels", "1000000"];
    let out = diffimg(args.iter().copied().chain(raised.map(OsStr::new)));
    assert_eq!(
        stdout(&out).trim(),
        format!("{:?}", (514.0 * 3.0) / (3.0 * 65535.0)),
        "{}",
        stderr(&out)
    );
}
