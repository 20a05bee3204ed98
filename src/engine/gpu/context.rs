//! The GPU context every kernel shares: instance, adapter and device with the adapter's own
//! limits, kept for the process while they work and opened again after a loss (a failed open is
//! retried after a growing back-off); the device's health (errors reported outside any scope,
//! and its loss); what each kernel keeps for the device's lifetime (its pipelines, which the
//! context holds without knowing them); and the helpers every kernel uses to allocate, run and
//! wait inside error scopes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use crate::engine::EngineInfo;
use crate::error::Error;

/// How long one submission may take, by default, before the device counts as hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The first wait before opening again what failed to open; it doubles with each failure in a
/// row, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What `probe` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    /// The backend's name, e.g. "vulkan".
    pub backend: String,
    /// A CPU implementation (e.g. lavapipe): correct but slower than the CPU engine.
    pub software: bool,
}

/// Finds the adapter (once per process) without creating a device.
pub fn probe() -> Result<AdapterSummary, Error> {
    Ok(host()?.summary.clone())
}

/// Whether this machine may have a hardware GPU, judged without loading any driver. On Linux a
/// hardware adapter needs a device node (DRM render node, NVIDIA's, or WSL's); without one only
/// software adapters can exist, and looking for them would cost tens of milliseconds and
/// megabytes for nothing. Elsewhere the answer is yes.
pub fn hardware_possible() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let render_node = std::fs::read_dir("/dev/dri").is_ok_and(|nodes| {
        nodes
            .flatten()
            .any(|node| node.file_name().to_string_lossy().starts_with("renderD"))
    });
    render_node
        || ["/dev/nvidia0", "/dev/dxg"]
            .iter()
            .any(|node| std::path::Path::new(node).exists())
}

/// The instance and adapter.
struct Host {
    _instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    summary: AdapterSummary,
}

/// Something opened once and shared while it works: the last failure, and when to try again.
struct Shared<T> {
    value: Option<Arc<T>>,
    failure: Option<(String, Backoff)>,
}

impl<T> Shared<T> {
    const fn new() -> Shared<T> {
        Shared {
            value: None,
            failure: None,
        }
    }

    /// The shared value, opened with `open` when there is none and the back-off allows.
    fn get(&mut self, open: impl FnOnce() -> Result<T, String>) -> Result<Arc<T>, Error> {
        if let Some(value) = &self.value {
            return Ok(Arc::clone(value));
        }
        let now = Instant::now();
        if let Some((cause, backoff)) = &self.failure
            && now < backoff.retry_at
        {
            let wait = backoff.retry_at - now;
            return Err(Error::Gpu(format!(
                "{cause} (next try in {:.1} s)",
                wait.as_secs_f64()
            )));
        }
        match open() {
            Ok(value) => {
                let value = Arc::new(value);
                self.value = Some(Arc::clone(&value));
                self.failure = None;
                Ok(value)
            }
            Err(cause) => {
                let backoff = Backoff::after(self.failure.as_ref().map(|f| f.1), now);
                self.failure = Some((cause.clone(), backoff));
                Err(Error::Gpu(cause))
            }
        }
    }

    /// Drops the shared value if it is `value`, so that the next `get` opens a new one.
    fn forget(&mut self, value: &Arc<T>) {
        if self.value.as_ref().is_some_and(|v| Arc::ptr_eq(v, value)) {
            self.value = None;
        }
    }
}

/// When to try again after failures in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Backoff {
    failures: u32,
    retry_at: Instant,
}

impl Backoff {
    /// The back-off after one more failure at `now`, following `previous`.
    fn after(previous: Option<Backoff>, now: Instant) -> Backoff {
        let failures = previous.map_or(1, |p| p.failures.saturating_add(1));
        let delay = FIRST_BACKOFF
            .saturating_mul(1 << (failures - 1).min(16))
            .min(MAX_BACKOFF);
        Backoff {
            failures,
            retry_at: now + delay,
        }
    }
}

static HOST: Mutex<Shared<Host>> = Mutex::new(Shared::new());
static GPU: Mutex<Shared<Gpu>> = Mutex::new(Shared::new());

fn host() -> Result<Arc<Host>, Error> {
    lock(&HOST)?.get(open_adapter)
}

/// The shared device, opened (again) when there is none.
pub(super) fn gpu() -> Result<Arc<Gpu>, Error> {
    lock(&GPU)?.get(|| open_device(host().map_err(|e| e.to_string())?))
}

/// Gives up on `gpu` after a loss, a hang or an error: the next comparison opens a new device,
/// asked of a new adapter (the old one may be what failed).
pub(super) fn forget(gpu: &Arc<Gpu>) {
    if let Ok(mut shared) = GPU.lock() {
        shared.forget(gpu);
    }
    if let Ok(mut shared) = HOST.lock() {
        shared.forget(&gpu.host);
    }
}

fn open_adapter() -> Result<Host, String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
    let options = wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::from_env()
            .unwrap_or(wgpu::PowerPreference::HighPerformance),
        ..Default::default()
    };
    let adapter = pollster::block_on(instance.request_adapter(&options))
        .map_err(|cause| format!("no GPU adapter: {cause}"))?;
    let info = adapter.get_info();
    let summary = AdapterSummary {
        name: info.name,
        backend: info.backend.to_str().to_owned(),
        software: info.device_type == wgpu::DeviceType::Cpu,
    };
    Ok(Host {
        _instance: instance,
        adapter,
        summary,
    })
}

/// Errors the device reported outside any error scope, and its loss.
#[derive(Default)]
pub(super) struct Health {
    pub(super) lost: Mutex<Option<String>>,
    pub(super) uncaptured: Mutex<Option<String>>,
}

impl Health {
    pub(super) fn check(&self) -> Result<(), Error> {
        if let Some(reason) = lock(&self.lost)?.as_ref() {
            return Err(Error::Gpu(format!("device lost: {reason}")));
        }
        match lock(&self.uncaptured)?.take() {
            Some(cause) => Err(Error::Gpu(cause)),
            None => Ok(()),
        }
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, Error> {
    mutex
        .lock()
        .map_err(|_| Error::Gpu("a GPU engine thread panicked".to_owned()))
}

/// Records the first message; a poisoned lock loses it, which `Health::check` reports anyway.
pub(super) fn record(slot: &Mutex<Option<String>>, message: String) {
    if let Ok(mut slot) = slot.lock() {
        slot.get_or_insert(message);
    }
}

/// The device and what every engine shares.
pub(super) struct Gpu {
    host: Arc<Host>,
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) info: EngineInfo,
    pub(super) max_texture: u32,
    pub(super) max_groups: u32,
    pub(super) health: Arc<Health>,
    /// What each kernel keeps for the device's lifetime, by its type (`Gpu::kept`).
    kept: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Gpu {
    /// The device's one value of type `T`, made the first time a kernel asks for it: where a
    /// kernel keeps its pipelines, so that every engine on the device shares them.
    pub(super) fn kept<T: Default + Send + Sync + 'static>(&self) -> Result<Arc<T>, Error> {
        let kept = Arc::clone(
            lock(&self.kept)?
                .entry(TypeId::of::<T>())
                .or_insert_with(|| Arc::new(T::default())),
        );
        Arc::downcast(kept).map_err(|_| Error::Gpu("a kernel's state has another type".into()))
    }
}

fn open_device(host: Arc<Host>) -> Result<Gpu, String> {
    let descriptor = wgpu::DeviceDescriptor {
        label: Some("diffimg device"),
        required_features: wgpu::Features::empty(),
        required_limits: host.adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    };
    let (device, queue) = pollster::block_on(host.adapter.request_device(&descriptor))
        .map_err(|cause| format!("cannot open the GPU device: {cause}"))?;
    let health = Arc::new(Health::default());
    let seen = Arc::clone(&health);
    device.on_uncaptured_error(Arc::new(move |error| {
        record(&seen.uncaptured, error.to_string())
    }));
    let seen = Arc::clone(&health);
    device.set_device_lost_callback(move |reason, message| {
        record(&seen.lost, format!("{reason:?}: {message}"));
    });
    let limits = device.limits();
    Ok(Gpu {
        info: EngineInfo::Gpu {
            adapter: host.summary.name.clone(),
            backend: host.summary.backend.clone(),
        },
        host,
        device,
        queue,
        max_texture: limits.max_texture_dimension_2d.max(1),
        max_groups: limits.max_compute_workgroups_per_dimension.max(1),
        health,
        kept: Mutex::default(),
    })
}

pub(super) fn make_buffer(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    })
}

/// Runs `work` inside out-of-memory, validation and internal error scopes; a captured error becomes
/// `Error::Gpu` naming `what`.
pub(super) fn scoped<T>(
    device: &wgpu::Device,
    what: &str,
    work: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let result = work();
    let failed = pollster::block_on(internal.pop());
    let invalid = pollster::block_on(validation.pop());
    let exhausted = pollster::block_on(memory.pop());
    match invalid.or(exhausted).or(failed) {
        Some(error) => Err(Error::Gpu(format!("{what}: {error}"))),
        None => result.map_err(|error| match error {
            Error::Gpu(cause) => Error::Gpu(format!("{what}: {cause}")),
            other => other,
        }),
    }
}

/// Blocks until `submission` has run and the `maps` callbacks that report on `receiver` have
/// been called, for `timeout` at most.
pub(super) fn wait(
    device: &wgpu::Device,
    submission: wgpu::SubmissionIndex,
    receiver: &mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    maps: usize,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let hung = || hung(timeout);
    device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: Some(timeout),
        })
        .map_err(|cause| match cause {
            wgpu::PollError::Timeout => hung(),
            cause => Error::Gpu(format!("waiting for the device: {cause}")),
        })?;
    for _ in 0..maps {
        // Another thread's poll may be calling the callbacks right now: wait for them.
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err(cause)) => {
                return Err(Error::Gpu(format!("reading back the results: {cause}")));
            }
            Err(_) => return Err(hung()),
        }
    }
    Ok(())
}

/// The error of a device that did not finish its work within `timeout`.
pub(super) fn hung(timeout: Duration) -> Error {
    Error::Gpu(format!(
        "the device did not finish within {:.1} s",
        timeout.as_secs_f64()
    ))
}

pub(super) fn map_error(cause: wgpu::MapRangeError) -> Error {
    Error::Gpu(format!("reading back the results: {cause}"))
}

pub(super) fn cast_error(cause: bytemuck::PodCastError) -> Error {
    Error::Gpu(format!("reading back the results: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_limit() {
        let now = Instant::now();
        let mut backoff = None;
        let mut delays = Vec::new();
        for _ in 0..9 {
            let next = Backoff::after(backoff, now);
            delays.push((next.retry_at - now).as_secs());
            backoff = Some(next);
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn failure_is_retried_after_the_backoff_and_success_is_kept() {
        let mut shared = Shared::<u32>::new();
        let opened = std::cell::Cell::new(0);
        let open = |ok: bool| {
            opened.set(opened.get() + 1);
            if ok { Ok(7) } else { Err("broken".to_owned()) }
        };
        assert!(shared.get(|| open(false)).is_err());
        // Within the back-off, the failure is reported without trying again.
        let error = shared.get(|| open(true)).unwrap_err().to_string();
        assert!(
            error.contains("broken") && error.contains("next try in"),
            "{error}"
        );
        assert_eq!(opened.get(), 1);
        shared.failure.as_mut().unwrap().1.retry_at = Instant::now();
        let value = shared.get(|| open(true)).unwrap();
        assert_eq!((*value, opened.get()), (7, 2));
        assert!(shared.failure.is_none());
        assert!(Arc::ptr_eq(&shared.get(|| open(false)).unwrap(), &value));
        shared.forget(&value);
        assert!(shared.get(|| open(false)).is_err());
        assert_eq!(opened.get(), 3);
    }
}
