//! The GPU context every kernel shares: instance, adapter and device, made once per process
//! with the adapter's own limits; the device's health (errors reported outside any scope, and
//! its loss); and the helpers every kernel uses to allocate, run and wait inside error scopes.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::ratio::{Pipeline, make_pipeline};
use crate::engine::EngineInfo;
use crate::error::Error;
use crate::pixel::Depth;

/// How long one tile may take before the device counts as hung.
pub(super) const WAIT: Duration = Duration::from_secs(120);

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
pub(super) struct Host {
    pub(super) _instance: wgpu::Instance,
    pub(super) adapter: wgpu::Adapter,
    pub(super) summary: AdapterSummary,
}

pub(super) static HOST: OnceLock<Result<Host, String>> = OnceLock::new();
pub(super) static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();

pub(super) fn host() -> Result<&'static Host, Error> {
    HOST.get_or_init(open_adapter)
        .as_ref()
        .map_err(|cause| Error::Gpu(cause.clone()))
}

pub(super) fn open_adapter() -> Result<Host, String> {
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
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) info: EngineInfo,
    pub(super) max_texture: u32,
    pub(super) max_groups: u32,
    pub(super) eight: Pipeline,
    pub(super) sixteen: Pipeline,
    pub(super) health: Arc<Health>,
}

pub(super) fn gpu() -> Result<&'static Gpu, Error> {
    let host = host()?;
    GPU.get_or_init(|| open_device(host))
        .as_ref()
        .map_err(|cause| Error::Gpu(cause.clone()))
}

pub(super) fn open_device(host: &Host) -> Result<Gpu, String> {
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
    let (eight, sixteen) = scoped(&device, "cannot build the diff shader", || {
        Ok((
            make_pipeline(&device, Depth::Eight),
            make_pipeline(&device, Depth::Sixteen),
        ))
    })
    .map_err(|error| error.to_string())?;
    Ok(Gpu {
        info: EngineInfo::Gpu {
            adapter: host.summary.name.clone(),
            backend: host.summary.backend.clone(),
        },
        device,
        queue,
        max_texture: limits.max_texture_dimension_2d.max(1),
        max_groups: limits.max_compute_workgroups_per_dimension.max(1),
        eight,
        sixteen,
        health,
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

/// Blocks until `submission` has run and its map callbacks have been called.
pub(super) fn wait(device: &wgpu::Device, submission: wgpu::SubmissionIndex) -> Result<(), Error> {
    device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: Some(WAIT),
        })
        .map(drop)
        .map_err(|cause| Error::Gpu(format!("waiting for the device: {cause}")))
}

pub(super) fn map_error(cause: wgpu::MapRangeError) -> Error {
    Error::Gpu(format!("reading back the results: {cause}"))
}

pub(super) fn cast_error(cause: bytemuck::PodCastError) -> Error {
    Error::Gpu(format!("reading back the results: {cause}"))
}
