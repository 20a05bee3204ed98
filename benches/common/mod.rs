//! Helpers the end-to-end benchmarks share: image generators and a streaming PNG writer
//! (`scene`), anti-aliased drawings (`drawing`), the PNG decoding floor (`floor`), running a
//! command and measuring its wall time, CPU time and peak RSS (`measure`), the perceptual
//! peers (`peers`), a render-like scene and its reference tools (`render`, `references`), the
//! table they print (`table`), and a TIFF writer (`tiff_file`).

// Each benchmark uses part of this module.
#![allow(dead_code)]

pub mod drawing;
pub mod floor;
pub mod measure;
pub mod peers;
pub mod references;
pub mod render;
pub mod scene;
pub mod table;
pub mod tiff_file;

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

pub type BoxError = Box<dyn Error + Send + Sync>;

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

pub fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && page > 0 {
        pages as u64 * page as u64
    } else {
        u64::MAX
    }
}

/// This process's peak RSS since the last `reset_peak_rss` (`VmHWM`; `getrusage` would
/// also count the address space that exec replaced, cargo's).
pub fn own_peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

/// Where commands' output and diff images go for the duration of one case; per process, so
/// two runs at once do not clash.
pub fn scratch_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(format!("out-{}", std::process::id()))
}

pub fn env_number(name: &str) -> Result<Option<u64>, BoxError> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(
            v.trim()
                .parse()
                .map_err(|_| format!("{name}={v}: not a whole number"))?,
        )),
        Err(_) => Ok(None),
    }
}
