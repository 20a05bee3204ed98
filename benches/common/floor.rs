//! The floor every figure is shown against: decoding both PNG files of a pair at once on two
//! threads with the `png` crate, as the tool reads them, with no diff.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::thread;
use std::time::Duration;

use super::BoxError;

pub fn open_png(path: &Path) -> Result<png::Reader<BufReader<File>>, BoxError> {
    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
    let limits = png::Limits { bytes: usize::MAX };
    let mut decoder = png::Decoder::new_with_limits(file, limits);
    decoder.set_transformations(png::Transformations::EXPAND);
    Ok(decoder.read_info()?)
}

pub fn decode_rows(path: &Path) -> Result<(), BoxError> {
    let mut reader = open_png(path)?;
    let mut rows = 0u32;
    while let Some(row) = reader.next_row()? {
        std::hint::black_box(row.data());
        rows += 1;
    }
    if rows != reader.info().height {
        return Err(format!("{}: {rows} rows decoded", path.display()).into());
    }
    Ok(())
}

pub fn decode_frame(path: &Path) -> Result<(), BoxError> {
    let mut reader = open_png(path)?;
    let size = reader
        .output_buffer_size()
        .ok_or("frame does not fit in memory")?;
    let mut buf = vec![0u8; size];
    reader.next_frame(&mut buf)?;
    std::hint::black_box(&buf);
    Ok(())
}

/// User plus system CPU time of this process so far.
pub fn own_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    cpu_time(&usage)
}

pub fn cpu_time(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Decodes both files at once on two threads.
pub fn decode_pair(
    a: &Path,
    b: &Path,
    decode: fn(&Path) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    thread::scope(|s| {
        let other = s.spawn(|| decode(b));
        decode(a)?;
        other.join().map_err(|_| "decoder thread panicked")?
    })
}

/// Makes this program decode `FLOOR_ARG A B` and exit: the floor in a process of its own.
pub const FLOOR_ARG: &str = "--decode-floor";

/// Decodes both files row by row, exiting 2 on failure.
pub fn decode_floor(a: &Path, b: &Path) {
    if let Err(e) = decode_pair(a, b, decode_rows) {
        eprintln!("floor: {e}");
        std::process::exit(2);
    }
}
