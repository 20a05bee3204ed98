//! Failures caused on purpose, for the tests that trouble never panics, leaves a partial file
//! or changes a result: every place where a test can make something fail asks `fire` with its
//! `Hook`. They work only with the `test-hooks` feature; without it `fire` is always false and
//! the compiler removes what it guards.

use std::path::Path;

/// Where the GPU engine can be made to fail (`GpuOptions::fault`; the command line sets it from
/// `DIFFIMG_GPU_FAULT`). Allocation, dispatch and device loss are real failures provoked in the
/// driver; the others return the error the real failure would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No adapter is found.
    Adapter,
    /// The device cannot be created.
    Device,
    /// A buffer larger than the device allows is requested.
    Allocation,
    /// A dispatch with more workgroups than the device allows.
    Dispatch,
    /// Mapping the results for reading fails.
    ReadBack,
    /// The device is destroyed after the first band.
    DeviceLost,
    /// The first submission never finishes: the engine waits its timeout, then fails as a
    /// hung device makes it fail.
    Hang,
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(name: &str) -> Result<Fault, String> {
        Ok(match name {
            "adapter" => Fault::Adapter,
            "device" => Fault::Device,
            "allocation" => Fault::Allocation,
            "dispatch" => Fault::Dispatch,
            "readback" => Fault::ReadBack,
            "lost" => Fault::DeviceLost,
            "hang" => Fault::Hang,
            _ => return Err(format!("unknown GPU fault '{name}'")),
        })
    }
}

/// A place where a test can make something fail.
#[derive(Clone, Copy, Debug)]
// Without the feature, `fire` reads no hook.
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub(crate) enum Hook<'a> {
    /// Opening the image of this name: `DIFFIMG_TEST_PANIC=open:NAME` (NAME its file name)
    /// panics there, as a decoder bug would.
    Open(&'a Path),
    /// Reading rows of the image of this name: `DIFFIMG_TEST_PANIC=rows:NAME` panics there.
    Rows(&'a Path),
    /// An output file about to grow to this many bytes: `DIFFIMG_TEST_DISK_FULL_AT=N` fires
    /// past byte N, as a disk that fills up fails the write.
    Write(u64),
    /// A stage of the GPU engine (the second fault) of an engine set to fail at the first.
    Gpu(Option<Fault>, Fault),
}

/// Whether the running test asks for a failure at `hook` (the panics of `Open` and `Rows`
/// happen here).
#[cfg(feature = "test-hooks")]
pub(crate) fn fire(hook: Hook) -> bool {
    let panic_at = |stage: &str, name: &Path| {
        let wanted = std::env::var("DIFFIMG_TEST_PANIC").unwrap_or_default();
        let file = name.file_name().unwrap_or_default().to_string_lossy();
        if wanted.split_once(':') == Some((stage, file.as_ref())) {
            panic!("test panic at {stage} of {file}");
        }
        false
    };
    match hook {
        Hook::Open(name) => panic_at("open", name),
        Hook::Rows(name) => panic_at("rows", name),
        Hook::Write(end) => std::env::var("DIFFIMG_TEST_DISK_FULL_AT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|limit| end > limit),
        Hook::Gpu(set, stage) => set == Some(stage),
    }
}

#[cfg(not(feature = "test-hooks"))]
pub(crate) fn fire(_: Hook) -> bool {
    false
}
