//! The GPU engine: a wgpu compute shader diffs a band tile by tile. Per-channel sums come back
//! as per-workgroup `u32` partials added on the host as `u64`, so results equal the CPU
//! engine's bit for bit. One instance, adapter and device serve the whole process.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::time::Duration;

mod perceptual;

use super::perceptual::{Planes, Rule};
use super::{Band, Bounds, Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::pixel::{Depth, Sample, Samples};

const SHADER: &str = include_str!("../../../shaders/diff.wgsl");

/// Pixels of one row that one invocation handles.
const STRIP: u32 = 16;
/// Invocations per workgroup.
const GROUP: u32 = 64;
const _: () = assert!(
    (STRIP as u64) * (GROUP as u64) * 65535 < 1 << 32,
    "a workgroup's partial sum must fit a u32"
);

/// Bytes one input texture may take: bounds the rows of a tile.
const TEXTURE_BUDGET: u64 = 64 << 20;
/// The atomics at the start of the totals buffer (`Totals` in the shader), before the partials.
const HEADER_BYTES: u64 = 32;
/// Bytes of one workgroup's partial sums.
const PARTIAL_BYTES: u64 = 16;
/// How long one tile may take before the device counts as hung.
const WAIT: Duration = Duration::from_secs(120);

/// Where in an RGBA texel each channel of a 1- to 4-channel pixel goes: grey in red, alpha in
/// alpha, so that channels keep their identity.
const SLOTS: [&[usize]; 5] = [&[], &[0], &[0, 3], &[0, 1, 2], &[0, 1, 2, 3]];

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

/// Options of the GPU engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// Largest tile (width, height) in pixels, below what the device allows; for tests that
    /// need tile edges.
    pub max_tile: Option<(u32, u32)>,
    /// A failure to cause, for tests that GPU trouble never panics or changes a result.
    pub fault: Option<Fault>,
}

/// Where the GPU engine can be made to fail. Allocation, dispatch and device loss are real
/// failures provoked in the driver; the others return the error the real failure would.
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
    /// The device is destroyed after the first tile.
    DeviceLost,
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
            _ => return Err(format!("unknown GPU fault '{name}'")),
        })
    }
}

/// The instance and adapter.
struct Host {
    _instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    summary: AdapterSummary,
}

static HOST: OnceLock<Result<Host, String>> = OnceLock::new();
static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();

fn host() -> Result<&'static Host, Error> {
    HOST.get_or_init(open_adapter)
        .as_ref()
        .map_err(|cause| Error::Gpu(cause.clone()))
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
struct Health {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Option<String>>,
}

impl Health {
    fn check(&self) -> Result<(), Error> {
        if let Some(reason) = lock(&self.lost)?.as_ref() {
            return Err(Error::Gpu(format!("device lost: {reason}")));
        }
        match lock(&self.uncaptured)?.take() {
            Some(cause) => Err(Error::Gpu(cause)),
            None => Ok(()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, Error> {
    mutex
        .lock()
        .map_err(|_| Error::Gpu("a GPU engine thread panicked".to_owned()))
}

/// Records the first message; a poisoned lock loses it, which `Health::check` reports anyway.
fn record(slot: &Mutex<Option<String>>, message: String) {
    if let Ok(mut slot) = slot.lock() {
        slot.get_or_insert(message);
    }
}

/// The device and what every engine shares.
struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: EngineInfo,
    max_texture: u32,
    max_groups: u32,
    eight: Pipeline,
    sixteen: Pipeline,
    health: Arc<Health>,
}

/// The compute pipeline for one sample depth, whose diff texture has its own format.
struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    /// A 1x1 diff target bound when no diff is wanted.
    dummy: wgpu::TextureView,
}

impl Gpu {
    fn pipeline(&self, depth: Depth) -> &Pipeline {
        match depth {
            Depth::Eight => &self.eight,
            Depth::Sixteen => &self.sixteen,
        }
    }
}

fn gpu() -> Result<&'static Gpu, Error> {
    let host = host()?;
    GPU.get_or_init(|| open_device(host))
        .as_ref()
        .map_err(|cause| Error::Gpu(cause.clone()))
}

fn open_device(host: &Host) -> Result<Gpu, String> {
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

fn texture_format(depth: Depth) -> wgpu::TextureFormat {
    match depth {
        Depth::Eight => wgpu::TextureFormat::Rgba8Uint,
        Depth::Sixteen => wgpu::TextureFormat::Rgba16Uint,
    }
}

/// Bytes of one RGBA texel.
fn texel_bytes(depth: Depth) -> u32 {
    4 * depth.bits() / 8
}

fn make_pipeline(device: &wgpu::Device, depth: Depth) -> Pipeline {
    let (name, format) = match depth {
        Depth::Eight => ("rgba8uint", wgpu::TextureFormat::Rgba8Uint),
        Depth::Sixteen => ("rgba16uint", wgpu::TextureFormat::Rgba16Uint),
    };
    let source = format!(
        "const STRIP: u32 = {STRIP}u;\nconst GROUP: u32 = {GROUP}u;\n{}",
        SHADER.replace("DIFF_FORMAT", name)
    );
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&format!("diffimg diff shader ({name})")),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let compute = wgpu::ShaderStages::COMPUTE;
    let input = |binding| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: compute,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Uint,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    };
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&format!("diffimg bindings ({name})")),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: compute,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            input(1),
            input(2),
            wgpu::BindGroupLayoutEntry {
                binding: 3,
                visibility: compute,
                ty: wgpu::BindingType::StorageTexture {
                    access: wgpu::StorageTextureAccess::WriteOnly,
                    format,
                    view_dimension: wgpu::TextureViewDimension::D2,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 4,
                visibility: compute,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: false },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&format!("diffimg pipeline layout ({name})")),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&format!("diffimg diff pipeline ({name})")),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("diff"),
        compilation_options: Default::default(),
        cache: None,
    });
    let dummy = make_texture(device, "diffimg unused diff target", depth, 1, 1, true);
    Pipeline {
        pipeline,
        layout,
        dummy: dummy.create_view(&Default::default()),
    }
}

/// An RGBA texture: an input (`diff` false) or a diff target.
fn make_texture(
    device: &wgpu::Device,
    label: &str,
    depth: Depth,
    width: u32,
    height: u32,
    diff: bool,
) -> wgpu::Texture {
    let usage = if diff {
        wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC
    } else {
        wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST
    };
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: texture_format(depth),
        usage,
        view_formats: &[],
    })
}

fn make_buffer(
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
fn scoped<T>(
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
fn wait(device: &wgpu::Device, submission: wgpu::SubmissionIndex) -> Result<(), Error> {
    device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: Some(WAIT),
        })
        .map(drop)
        .map_err(|cause| Error::Gpu(format!("waiting for the device: {cause}")))
}

/// The uniform block of the shader (`Params`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    strips_x: u32,
    counted_mask: u32,
    alpha_max: u32,
    write_diff: u32,
    sample_max: u32,
    pad: u32,
}

/// Workgroups of a tile, laid out within the per-dimension limit: (x, y).
fn dispatch_size(width: u32, height: u32, max_groups: u32) -> (u32, u32) {
    let strips = u64::from(width.div_ceil(STRIP)) * u64::from(height);
    let groups = strips.div_ceil(u64::from(GROUP)).max(1);
    let x = groups.min(u64::from(max_groups));
    // Tiles are bounded by TEXTURE_BUDGET, so y stays far below u32::MAX.
    (x as u32, groups.div_ceil(x) as u32)
}

/// Bytes of one row of a texture copied into a buffer.
fn padded_row(width: u32, depth: Depth) -> u32 {
    (width * texel_bytes(depth)).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
}

/// The textures and buffers for tiles of up to `width` x `height` pixels at `depth`.
struct Frame {
    depth: Depth,
    width: u32,
    height: u32,
    a: wgpu::Texture,
    b: wgpu::Texture,
    totals: wgpu::Buffer,
    totals_read: wgpu::Buffer,
    /// Bindings with the dummy diff target.
    plain: wgpu::BindGroup,
    diff: Option<DiffTarget>,
}

/// The diff texture, its read-back buffer and the bindings that write it.
struct DiffTarget {
    texture: wgpu::Texture,
    read: wgpu::Buffer,
    bindings: wgpu::BindGroup,
}

impl Frame {
    fn fits(&self, depth: Depth, width: u32, height: u32) -> bool {
        self.depth == depth && self.width >= width && self.height >= height
    }

    fn new(
        gpu: &Gpu,
        params: &wgpu::Buffer,
        max_groups: u32,
        depth: Depth,
        width: u32,
        height: u32,
    ) -> Frame {
        let device = &gpu.device;
        let a = make_texture(device, "diffimg image a", depth, width, height, false);
        let b = make_texture(device, "diffimg image b", depth, width, height, false);
        let (x, y) = dispatch_size(width, height, max_groups);
        let totals_size = HEADER_BYTES + u64::from(x) * u64::from(y) * PARTIAL_BYTES;
        let totals = make_buffer(
            device,
            "diffimg totals",
            totals_size,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        );
        let totals_read = make_buffer(
            device,
            "diffimg totals read-back",
            totals_size,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let plain = bind(gpu, depth, params, &a, &b, None, &totals);
        Frame {
            depth,
            width,
            height,
            a,
            b,
            totals,
            totals_read,
            plain,
            diff: None,
        }
    }

    fn add_diff_target(&mut self, gpu: &Gpu, params: &wgpu::Buffer) {
        let device = &gpu.device;
        let texture = make_texture(
            device,
            "diffimg diff",
            self.depth,
            self.width,
            self.height,
            true,
        );
        let read = make_buffer(
            device,
            "diffimg diff read-back",
            u64::from(padded_row(self.width, self.depth)) * u64::from(self.height),
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let view = texture.create_view(&Default::default());
        let bindings = bind(
            gpu,
            self.depth,
            params,
            &self.a,
            &self.b,
            Some(&view),
            &self.totals,
        );
        self.diff = Some(DiffTarget {
            texture,
            read,
            bindings,
        });
    }
}

fn bind(
    gpu: &Gpu,
    depth: Depth,
    params: &wgpu::Buffer,
    a: &wgpu::Texture,
    b: &wgpu::Texture,
    diff: Option<&wgpu::TextureView>,
    totals: &wgpu::Buffer,
) -> wgpu::BindGroup {
    let pipeline = gpu.pipeline(depth);
    let a = a.create_view(&Default::default());
    let b = b.create_view(&Default::default());
    let label = if diff.is_some() {
        "diffimg bindings with diff"
    } else {
        "diffimg bindings without diff"
    };
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(&a),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::TextureView(&b),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: wgpu::BindingResource::TextureView(diff.unwrap_or(&pipeline.dummy)),
            },
            wgpu::BindGroupEntry {
                binding: 4,
                resource: totals.as_entire_binding(),
            },
        ],
    })
}

/// A tile of a band: `y` counts from the band's first counted row.
#[derive(Clone, Copy, Debug)]
struct Tile {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

impl Tile {
    fn extent(self) -> wgpu::Extent3d {
        wgpu::Extent3d {
            width: self.width,
            height: self.height,
            depth_or_array_layers: 1,
        }
    }
}

/// Diffs bands on the GPU. Holds textures and buffers for the largest tile seen so far.
pub struct GpuEngine {
    gpu: &'static Gpu,
    /// Largest tile, within the device's texture limit.
    max_tile: (u32, u32),
    /// Workgroups per dispatch dimension: the device's limit.
    max_groups: u32,
    params: wgpu::Buffer,
    frame: Option<Frame>,
    /// Tiles of 1- to 3-channel bands, expanded to RGBA.
    staging: Samples,
    fault: Option<Fault>,
    tiles_done: u64,
    /// Buffers of the perceptual kernel, once it has run.
    perceptual: Option<perceptual::Buffers>,
}

impl GpuEngine {
    /// Opens the device (once per process) and makes an engine on it.
    pub fn new(options: GpuOptions) -> Result<GpuEngine, Error> {
        match options.fault {
            Some(Fault::Adapter) => {
                return Err(Error::Gpu("no GPU adapter (injected fault)".into()));
            }
            Some(Fault::Device) => {
                return Err(Error::Gpu(
                    "cannot open the GPU device (injected fault)".into(),
                ));
            }
            _ => {}
        }
        let gpu = gpu()?;
        gpu.health.check()?;
        let params = scoped(&gpu.device, "cannot allocate GPU buffers", || {
            Ok(make_buffer(
                &gpu.device,
                "diffimg params",
                size_of::<Params>() as u64,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ))
        })?;
        let (width, height) = options.max_tile.unwrap_or((u32::MAX, u32::MAX));
        Ok(GpuEngine {
            gpu,
            max_tile: (
                width.clamp(1, gpu.max_texture),
                height.clamp(1, gpu.max_texture),
            ),
            max_groups: gpu.max_groups,
            params,
            frame: None,
            staging: Samples::U8(Vec::new()),
            fault: options.fault,
            tiles_done: 0,
            perceptual: None,
        })
    }

    /// The largest tile for `band`: within `max_tile`, and one input texture within
    /// `TEXTURE_BUDGET`.
    fn tile_size(&self, band: &Band) -> (u32, u32) {
        let width = band.width.min(self.max_tile.0);
        let row_bytes = u64::from(width) * u64::from(texel_bytes(band.layout.depth));
        let budget_rows = (TEXTURE_BUDGET / row_bytes).max(1);
        let height = u64::from(band.rows.min(self.max_tile.1)).min(budget_rows);
        (width, height as u32)
    }

    /// Makes sure the frame holds tiles of `width` x `height` at `depth`, with a diff target
    /// when `diff`. Grows it to cover both the old and the new tile when that stays within
    /// budget.
    fn prepare(&mut self, depth: Depth, width: u32, height: u32, diff: bool) -> Result<(), Error> {
        let gpu = self.gpu;
        let (params, max_groups) = (&self.params, self.max_groups);
        let frame = &mut self.frame;
        let fault = self.fault;
        scoped(&gpu.device, "cannot allocate GPU memory", || {
            if fault == Some(Fault::Allocation) {
                let too_big = gpu.device.limits().max_buffer_size.saturating_add(4);
                make_buffer(
                    &gpu.device,
                    "diffimg oversized",
                    too_big,
                    wgpu::BufferUsages::STORAGE,
                );
            }
            if !frame.as_ref().is_some_and(|f| f.fits(depth, width, height)) {
                let (mut w, mut h) = (width, height);
                if let Some(old) = frame.as_ref().filter(|f| f.depth == depth) {
                    (w, h) = (old.width.max(width), old.height.max(height));
                    let bytes = u64::from(w) * u64::from(h) * u64::from(texel_bytes(depth));
                    if bytes > TEXTURE_BUDGET {
                        (w, h) = (width, height);
                    }
                }
                drop(frame.take());
                *frame = Some(Frame::new(gpu, params, max_groups, depth, w, h));
            }
            if let Some(frame) = frame.as_mut().filter(|f| diff && f.diff.is_none()) {
                frame.add_diff_target(gpu, params);
            }
            Ok(())
        })
    }

    /// Diffs one tile: uploads it, runs the shader, reads the figures and, with `diff`, the
    /// diff pixels back.
    fn diff_tile(
        &mut self,
        band: &Band,
        tile: Tile,
        counted_mask: u32,
        alpha_max: bool,
        diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        let gpu = self.gpu;
        let depth = band.layout.depth;
        let Some(frame) = self.frame.as_ref() else {
            return Err(Error::Gpu("no GPU memory for the tile".to_owned()));
        };
        upload(&gpu.queue, &mut self.staging, band, &band.a, tile, &frame.a)?;
        upload(&gpu.queue, &mut self.staging, band, &band.b, tile, &frame.b)?;
        let target = match (&diff, &frame.diff) {
            (None, _) => None,
            (Some(_), Some(target)) => Some(target),
            (Some(_), None) => return Err(Error::Gpu("no GPU memory for the diff".to_owned())),
        };

        let params = Params {
            width: tile.width,
            height: tile.height,
            strips_x: tile.width.div_ceil(STRIP),
            counted_mask,
            alpha_max: u32::from(alpha_max),
            write_diff: u32::from(target.is_some()),
            sample_max: depth.max_value(),
            pad: 0,
        };
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let (mut groups_x, groups_y) = dispatch_size(tile.width, tile.height, self.max_groups);
        let totals_bytes = HEADER_BYTES + u64::from(groups_x) * u64::from(groups_y) * PARTIAL_BYTES;
        let padded = padded_row(tile.width, depth);

        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("diffimg tile"),
            });
        encoder.clear_buffer(&frame.totals, 0, Some(HEADER_BYTES));
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("diffimg diff pass"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&gpu.pipeline(depth).pipeline);
            pass.set_bind_group(0, target.map_or(&frame.plain, |t| &t.bindings), &[]);
            if self.fault == Some(Fault::Dispatch) {
                groups_x = self.max_groups + 1;
            }
            pass.dispatch_workgroups(groups_x, groups_y, 1);
        }
        encoder.copy_buffer_to_buffer(&frame.totals, 0, &frame.totals_read, 0, totals_bytes);
        if let Some(target) = target {
            encoder.copy_texture_to_buffer(
                wgpu::TexelCopyTextureInfo {
                    texture: &target.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::TexelCopyBufferInfo {
                    buffer: &target.read,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(padded),
                        rows_per_image: Some(tile.height),
                    },
                },
                tile.extent(),
            );
        }
        let submission = gpu.queue.submit([encoder.finish()]);

        let (sender, receiver) = mpsc::channel();
        let totals = frame.totals_read.slice(..totals_bytes);
        let pixels = target.map(|t| t.read.slice(..u64::from(padded) * u64::from(tile.height)));
        for slice in [Some(totals), pixels].into_iter().flatten() {
            let sender = sender.clone();
            slice.map_async(wgpu::MapMode::Read, move |result| {
                // The send fails only when the tile was given up on: nothing left to tell.
                let _ = sender.send(result);
            });
        }
        drop(sender);
        wait(&gpu.device, submission)?;
        if self.fault == Some(Fault::ReadBack) {
            return Err(Error::Gpu(
                "reading back the results: injected fault".into(),
            ));
        }
        for _ in 0..1 + usize::from(pixels.is_some()) {
            // Another thread's poll may be calling the callbacks right now: wait for them.
            match receiver.recv_timeout(WAIT) {
                Ok(Ok(())) => {}
                Ok(Err(cause)) => {
                    return Err(Error::Gpu(format!("reading back the results: {cause}")));
                }
                Err(_) => {
                    return Err(Error::Gpu(
                        "reading back the results did not finish".to_owned(),
                    ));
                }
            }
        }

        let stats = {
            let view = totals.get_mapped_range().map_err(map_error)?;
            let words: &[u32] = bytemuck::try_cast_slice(&view).map_err(cast_error)?;
            tile_stats(words, band, tile)
        };
        if let (Some(out), Some(pixels)) = (diff, pixels) {
            let view = pixels.get_mapped_range().map_err(map_error)?;
            contract_tile(&view, padded as usize, band, tile, out)?;
        }
        frame.totals_read.unmap();
        if let Some(target) = target {
            target.read.unmap();
        }
        Ok(stats)
    }
}

/// Uploads the tile of one image of `band` into `texture`.
fn upload(
    queue: &wgpu::Queue,
    staging: &mut Samples,
    band: &Band,
    samples: &Samples,
    tile: Tile,
    texture: &wgpu::Texture,
) -> Result<(), Error> {
    let texel = texel_bytes(band.layout.depth);
    let (data, layout) = if band.layout.channels == 4 {
        // Straight from the band: rows at the band's stride, starting at the tile's column.
        let row_bytes = band.width as usize * texel as usize;
        let first_row = band.halo_above as usize + tile.y as usize;
        let last_row = first_row + tile.height as usize - 1;
        let end = last_row * row_bytes + (tile.x as usize + tile.width as usize) * texel as usize;
        let stride = u32::try_from(row_bytes)
            .map_err(|_| Error::Gpu(format!("rows of {} pixels are too long", band.width)))?;
        let layout = wgpu::TexelCopyBufferLayout {
            offset: u64::from(tile.x) * u64::from(texel),
            bytes_per_row: Some(stride),
            rows_per_image: Some(tile.height),
        };
        (&samples.as_bytes()[first_row * row_bytes..end], layout)
    } else {
        expand_tile(samples, band, tile, staging);
        let layout = wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(tile.width * texel),
            rows_per_image: Some(tile.height),
        };
        (staging.as_bytes(), layout)
    };
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        data,
        layout,
        tile.extent(),
    );
    Ok(())
}

fn map_error(cause: wgpu::MapRangeError) -> Error {
    Error::Gpu(format!("reading back the results: {cause}"))
}

fn cast_error(cause: bytemuck::PodCastError) -> Error {
    Error::Gpu(format!("reading back the results: {cause}"))
}

impl Engine for GpuEngine {
    fn info(&self) -> EngineInfo {
        self.gpu.info.clone()
    }

    fn waits_on_device(&self) -> bool {
        true
    }

    fn diff_band(
        &mut self,
        band: &Band,
        ignore_alpha: bool,
        mut diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        self.gpu.health.check()?;
        check_band(band)?;
        if let Some(out) = diff.as_deref_mut() {
            out.reset(band.layout.depth, band.counted().len());
        }
        if band.width == 0 || band.rows == 0 {
            return Ok(Stats::default());
        }
        let slots = SLOTS[usize::from(band.layout.channels)];
        let mask = band.layout.counted_mask(ignore_alpha);
        let counted_mask = slots
            .iter()
            .enumerate()
            .filter(|&(c, _)| mask >> c & 1 == 1)
            .fold(0, |bits, (_, &slot)| bits | 1 << slot);
        let alpha_max = ignore_alpha && band.layout.has_alpha();
        let (width, height) = self.tile_size(band);
        let result = self
            .prepare(band.layout.depth, width, height, diff.is_some())
            .and_then(|()| {
                let mut stats = Stats::default();
                for y in (0..band.rows).step_by(height as usize) {
                    for x in (0..band.width).step_by(width as usize) {
                        let tile = Tile {
                            x,
                            y,
                            width: width.min(band.width - x),
                            height: height.min(band.rows - y),
                        };
                        let what = "diffing a tile";
                        let tile_stats = scoped(&self.gpu.device, what, || {
                            self.diff_tile(band, tile, counted_mask, alpha_max, diff.as_deref_mut())
                        })?;
                        stats = stats.merge(tile_stats);
                        self.tiles_done += 1;
                        if self.fault == Some(Fault::DeviceLost) && self.tiles_done == 1 {
                            self.gpu.device.destroy();
                        }
                    }
                }
                self.gpu.health.check()?;
                Ok(stats)
            });
        if result.is_err() {
            // Buffers may still be mapped or in an unknown state: start afresh next time.
            self.frame = None;
        }
        result
    }

    fn perceive_band(&mut self, band: &Band, rule: &Rule, out: &mut Planes) -> Result<(), Error> {
        self.gpu.health.check()?;
        check_band(band)?;
        let result = perceptual::perceive(self.gpu, &mut self.perceptual, band, rule, out);
        if result.is_err() {
            self.perceptual = None;
        }
        result
    }
}

/// Checks that `band`'s samples hold its counted rows in its layout.
fn check_band(band: &Band) -> Result<(), Error> {
    let layout = band.layout;
    if !(1..=4).contains(&layout.channels) {
        return Err(Error::Gpu(format!(
            "pixels of {} channels",
            layout.channels
        )));
    }
    if band.y.checked_add(band.rows).is_none() {
        return Err(Error::Gpu(format!(
            "rows {} to {} do not fit u32",
            band.y, band.rows
        )));
    }
    let rows = u64::from(band.halo_above) + u64::from(band.rows);
    let needed = rows * u64::from(band.width) * u64::from(layout.channels);
    for samples in [&band.a, &band.b] {
        if samples.depth() != layout.depth || (samples.len() as u64) < needed {
            return Err(Error::Gpu(format!(
                "a band of {rows} rows of {} {layout} pixels has {} samples of {} bits",
                band.width,
                samples.len(),
                samples.depth().bits()
            )));
        }
    }
    Ok(())
}

/// A tile's figures from the totals buffer: the header, then RGBA partial sums.
fn tile_stats(words: &[u32], band: &Band, tile: Tile) -> Stats {
    let (header, partials) = words.split_at(words.len().min(8));
    let mut rgba = [0u64; 4];
    for partial in partials.chunks_exact(4) {
        for (sum, &value) in rgba.iter_mut().zip(partial) {
            *sum += u64::from(value);
        }
    }
    let mut stats = Stats::default();
    for (sum, &slot) in stats
        .sums
        .iter_mut()
        .zip(SLOTS[usize::from(band.layout.channels)])
    {
        *sum = rgba[slot];
    }
    if let &[differing, max, x0_inv, y0_inv, x1, y1, ..] = header
        && differing != 0
    {
        let y = band.y + tile.y;
        stats.differing = u64::from(differing);
        stats.max = max;
        stats.bounds = Some(Bounds {
            x0: tile.x + !x0_inv,
            y0: y + !y0_inv,
            x1: tile.x + x1,
            y1: y + y1,
        });
    }
    stats
}

/// Copies the tile's pixels of one image of `band` into `staging` as RGBA.
fn expand_tile(samples: &Samples, band: &Band, tile: Tile, staging: &mut Samples) {
    staging.reset(
        band.layout.depth,
        tile.width as usize * tile.height as usize * 4,
    );
    match (samples, staging) {
        (Samples::U8(src), Samples::U8(dst)) => expand(src, band, tile, dst),
        (Samples::U16(src), Samples::U16(dst)) => expand(src, band, tile, dst),
        // `check_band` and `reset` make both the band's depth.
        _ => {}
    }
}

fn expand<T: Sample>(src: &[T], band: &Band, tile: Tile, dst: &mut [T]) {
    let channels = usize::from(band.layout.channels);
    let slots = SLOTS[channels];
    let first = band.halo_above as usize + tile.y as usize;
    let start = tile.x as usize * channels;
    let len = tile.width as usize * channels;
    for (r, out) in dst.chunks_exact_mut(tile.width as usize * 4).enumerate() {
        let row = (first + r) * band.row_len() + start;
        for (pixel, texel) in src[row..row + len]
            .chunks_exact(channels)
            .zip(out.chunks_exact_mut(4))
        {
            texel.fill(T::zeroed());
            for (&value, &slot) in pixel.iter().zip(slots) {
                texel[slot] = value;
            }
        }
    }
}

/// Copies the tile's diff texels (rows of `padded` bytes) into `out`, in the band's layout.
fn contract_tile(
    bytes: &[u8],
    padded: usize,
    band: &Band,
    tile: Tile,
    out: &mut Samples,
) -> Result<(), Error> {
    match out {
        Samples::U8(out) => contract(bytes, padded, band, tile, out),
        Samples::U16(out) => {
            let texels = bytemuck::try_cast_slice(bytes).map_err(cast_error)?;
            contract::<u16>(texels, padded / 2, band, tile, out);
        }
    }
    Ok(())
}

fn contract<T: Sample>(texels: &[T], padded: usize, band: &Band, tile: Tile, out: &mut [T]) {
    let channels = usize::from(band.layout.channels);
    let slots = SLOTS[channels];
    let len = tile.width as usize * channels;
    for (r, row) in texels.chunks(padded).take(tile.height as usize).enumerate() {
        let row = &row[..tile.width as usize * 4];
        let start = (tile.y as usize + r) * band.row_len() + tile.x as usize * channels;
        let dst = &mut out[start..start + len];
        if channels == 4 {
            dst.copy_from_slice(row);
        } else {
            for (texel, pixel) in row.chunks_exact(4).zip(dst.chunks_exact_mut(channels)) {
                for (value, &slot) in pixel.iter_mut().zip(slots) {
                    *value = texel[slot];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cpu::CpuEngine;
    use crate::pixel::Layout;

    #[test]
    fn dispatch_stays_within_the_limit_per_dimension() {
        assert_eq!(dispatch_size(1, 1, 65535), (1, 1));
        // 64 strips of 16 pixels fill one workgroup.
        assert_eq!(dispatch_size(1024, 1, 65535), (1, 1));
        assert_eq!(dispatch_size(1025, 1, 65535), (2, 1));
        assert_eq!(dispatch_size(16, 640, 65535), (10, 1));
        assert_eq!(dispatch_size(16, 640, 4), (4, 3));
        let (x, y) = dispatch_size(16384, 16384, 65535);
        assert!(x <= 65535 && u64::from(x) * u64::from(y) >= 16384 * 16384 / 1024);
    }

    #[test]
    fn two_dimensional_dispatch_matches_cpu() {
        let mut engine = match GpuEngine::new(GpuOptions::default()) {
            Ok(engine) => engine,
            Err(e) if std::env::var("DIFFIMG_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
                panic!("DIFFIMG_REQUIRE_GPU=1 but {e}")
            }
            Err(e) => {
                eprintln!("skipped: {e} (set DIFFIMG_REQUIRE_GPU=1 to require a GPU)");
                return;
            }
        };
        // Few workgroups per dimension force several rows of workgroups, some of them idle.
        engine.max_groups = 3;
        let mut rng = fastrand::Rng::with_seed(11);
        let (width, rows) = (150u32, 70u32);
        let len = (width * rows * 4) as usize;
        let a: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let b = a
            .iter()
            .map(|&v| if rng.u8(..16) == 0 { rng.u8(..) } else { v })
            .collect();
        let band = Band {
            width,
            y: 3,
            rows,
            halo_above: 0,
            halo_below: 0,
            layout: Layout::RGBA8,
            a: Samples::U8(a),
            b: Samples::U8(b),
        };
        let (mut expected, mut got) = (Samples::U8(Vec::new()), Samples::U8(Vec::new()));
        let cpu = CpuEngine::default()
            .diff_band(&band, false, Some(&mut expected))
            .unwrap();
        assert_eq!(engine.diff_band(&band, false, Some(&mut got)).unwrap(), cpu);
        assert!(got == expected, "diff pixels differ");
    }
}
