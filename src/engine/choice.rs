//! Which engine diffs each band: the backend the user asked for, the search for a GPU that
//! `auto` runs in the background (joined before the comparison ends), `auto`'s measurement of
//! both engines once it has a GPU, and the fall back to the CPU when the GPU fails.

use std::thread;
use std::time::Instant;

use super::cpu::CpuEngine;
use super::gpu::{self, GpuEngine, GpuOptions};
use super::flip::FlipRule;
use super::perceptual::{Planes, Rule};
use super::ssim::SsimRule;
use super::trial::{Kernel, Measured, Side, Trial};
use super::{Band, Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::pixel::Samples;

/// Which engine diffs the bands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The CPU, or the GPU where a hardware adapter exists, the image is large enough to repay
    /// starting it, and it diffs the first bands faster than the CPU. Falls back to the CPU if
    /// the GPU fails.
    #[default]
    Auto,
    /// The CPU engine alone.
    Cpu,
    /// Any adapter, software ones included; its failure is an error.
    Gpu,
}

impl Backend {
    /// Every backend's name, as `FromStr` takes it.
    pub const NAMES: [&str; 3] = ["auto", "cpu", "gpu"];
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(name: &str) -> Result<Backend, String> {
        match name {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            _ => Err(format!("'{name}' is not auto, cpu or gpu")),
        }
    }
}

/// How `Backend::Auto` chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoOptions {
    /// Images with fewer pixels stay on the CPU without looking for a GPU.
    pub min_pixels: u64,
    /// Take any adapter, software ones included, opened before the first band rather than
    /// looked for in the background. The CPU engine is faster than a software adapter, so this
    /// is for seeing the GPU path and its fallback on machines that only have one.
    pub any_adapter: bool,
}

impl Default for AutoOptions {
    fn default() -> AutoOptions {
        AutoOptions {
            min_pixels: AUTO_GPU_MIN_PIXELS,
            any_adapter: false,
        }
    }
}

/// Below this many pixels `Backend::Auto` keeps to the CPU without looking for a GPU: the CPU
/// engine diffs them in under 20 ms, less than finding an adapter and making a device takes
/// (60-120 ms measured on a software adapter).
pub const AUTO_GPU_MIN_PIXELS: u64 = 1 << 24;

/// The engines of one comparison, and which of them diffs the next band: an engine itself.
pub struct Choice {
    cpu: CpuEngine,
    gpu: Option<GpuEngine>,
    /// `Backend::Auto` looking for a hardware adapter, and starting it, in the background:
    /// why there is none to use, an error when it would not start.
    search: Option<thread::JoinHandle<Result<Result<GpuEngine, String>, Error>>>,
    /// `Backend::Gpu`: a GPU failure is an error, not a reason to fall back.
    strict: bool,
    /// `Backend::Auto`, which says why it chose the engine.
    auto: bool,
    /// `Backend::Auto`: why the CPU diffs every band still to come.
    cpu_reason: Option<String>,
    gpu_options: GpuOptions,
    gpu_info: Option<EngineInfo>,
    gpu_bands: u64,
    cpu_bands: u64,
    /// `Backend::Auto` with a GPU: the measurement of the ratio and the perceptual kernel.
    trials: Option<[Trial; 2]>,
    /// Whether the last band's ratio ran on the GPU.
    last_on_gpu: bool,
    notes: Vec<String>,
}

impl Choice {
    /// Starts the engines `backend` asks for, for an image of `pixels` pixels, with `cpu` as
    /// the CPU engine. Only `Backend::Gpu` fails, when the GPU cannot start.
    pub fn new(
        backend: Backend,
        auto: AutoOptions,
        gpu_options: &GpuOptions,
        pixels: u64,
        cpu: CpuEngine,
    ) -> Result<Choice, Error> {
        let mut engines = Choice {
            cpu,
            gpu: None,
            search: None,
            strict: backend == Backend::Gpu,
            auto: backend == Backend::Auto,
            cpu_reason: None,
            gpu_options: gpu_options.clone(),
            gpu_info: None,
            gpu_bands: 0,
            cpu_bands: 0,
            trials: None,
            last_on_gpu: false,
            notes: Vec::new(),
        };
        match backend {
            Backend::Cpu => {}
            Backend::Gpu => engines.start_gpu()?,
            Backend::Auto if pixels < auto.min_pixels => {
                engines.cpu_reason = Some(format!(
                    "an image under {} pixels: the CPU engine diffs it sooner than a GPU starts",
                    auto.min_pixels
                ));
            }
            Backend::Auto if auto.any_adapter => {
                if let Err(e) = engines.start_gpu() {
                    engines.gpu_failed(format!("warning: {e}; using the CPU"), &e);
                }
            }
            Backend::Auto if gpu::hardware_possible() => {
                let options = gpu_options.clone();
                engines.search = Some(thread::spawn(move || match gpu::probe() {
                    Ok(adapter) if !adapter.software => GpuEngine::new(options).map(Ok),
                    Ok(adapter) => Ok(Err(format!(
                        "only a software adapter ({}): the CPU engine is faster",
                        adapter.name
                    ))),
                    Err(e) => Ok(Err(format!("no GPU adapter: {e}"))),
                }));
            }
            Backend::Auto => {
                engines.cpu_reason = Some(
                    "no GPU device on this machine, so at best a software adapter: the CPU \
                     engine is faster"
                        .into(),
                );
            }
        }
        Ok(engines)
    }

    fn start_gpu(&mut self) -> Result<(), Error> {
        self.use_gpu(GpuEngine::new(self.gpu_options.clone())?);
        Ok(())
    }

    fn use_gpu(&mut self, engine: GpuEngine) {
        self.gpu_info = Some(engine.info());
        self.gpu = Some(engine);
        if !self.strict {
            self.trials = Some([Trial::new(Kernel::Ratio), Trial::new(Kernel::Perceptual)]);
        }
    }

    /// Takes the background search's answer once it is there: a hardware adapter's engine
    /// diffs the bands still to come.
    fn poll_search(&mut self) {
        if !self.search.as_ref().is_some_and(|s| s.is_finished()) {
            return;
        }
        match self.search.take().map(thread::JoinHandle::join) {
            Some(Ok(Ok(Ok(engine)))) => self.use_gpu(engine),
            Some(Ok(Ok(Err(reason)))) => self.cpu_reason = Some(reason),
            Some(Ok(Err(e))) => self.gpu_failed(format!("warning: {e}; using the CPU"), &e),
            Some(Err(_)) => self.cpu_reason = Some("the search for a GPU failed".into()),
            None => {}
        }
    }

    /// Notes that the GPU failed with `error`, and that the CPU goes on.
    fn gpu_failed(&mut self, note: String, error: &Error) {
        self.notes.push(note);
        self.cpu_reason = Some(format!("the GPU failed: {error}"));
    }

    /// Why `Backend::Auto` diffed the last band on the engine it did; `None` for the others.
    pub fn reason(&self) -> Option<String> {
        if !self.auto {
            return None;
        }
        if let Some(reason) = &self.cpu_reason {
            return Some(reason.clone());
        }
        if self.search.is_some() {
            return Some("the search for a GPU had not ended by the last band".into());
        }
        let measured = self.measured();
        let ratio = measured.iter().find(|m| m.kernel == Kernel::Ratio);
        let reason = match ratio.and_then(|m| m.chosen) {
            Some(Side::Gpu) => "the GPU measured faster than the CPU",
            Some(Side::Cpu) => "the CPU measured faster than the GPU",
            None => "the image ended before the GPU and the CPU were measured",
        };
        Some(reason.into())
    }

    /// Warnings about engines that failed.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn gpu_bands(&self) -> u64 {
        self.gpu_bands
    }

    pub fn cpu_bands(&self) -> u64 {
        self.cpu_bands
    }

    /// What `auto` measured of each kernel it ran while it had a GPU.
    pub fn measured(&self) -> Vec<Measured> {
        self.trials
            .iter()
            .flatten()
            .filter_map(Trial::measured)
            .collect()
    }

    /// The engine for the next call of `kernel`.
    fn side(&self, kernel: Kernel) -> Side {
        match (&self.gpu, &self.trials) {
            (None, _) => Side::Cpu,
            (Some(_), None) => Side::Gpu,
            (Some(_), Some(trials)) => trials[kernel as usize].next(),
        }
    }

    /// Makes `call` of `kernel`, over `pixels`, on the engine it goes to (on the CPU again if
    /// the GPU fails and may), and times it for `auto`.
    fn call<T>(
        &mut self,
        kernel: Kernel,
        pixels: u64,
        mut call: impl FnMut(&mut dyn Engine) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.poll_search();
        let ratio = kernel == Kernel::Ratio;
        let side = self.side(kernel);
        if let (Side::Gpu, Some(gpu)) = (side, &mut self.gpu) {
            let start = Instant::now();
            match call(gpu) {
                Ok(out) => {
                    self.record(kernel, Side::Gpu, pixels, start);
                    if ratio {
                        self.gpu_bands += 1;
                        self.last_on_gpu = true;
                    }
                    return Ok(out);
                }
                Err(e) if self.strict => return Err(e),
                Err(e) => {
                    self.gpu_failed(format!("warning: {e}; continuing on the CPU"), &e);
                    self.gpu = None;
                }
            }
        }
        let start = Instant::now();
        let out = call(&mut self.cpu)?;
        self.record(kernel, Side::Cpu, pixels, start);
        if ratio {
            self.cpu_bands += 1;
            self.last_on_gpu = false;
        }
        Ok(out)
    }

    fn record(&mut self, kernel: Kernel, side: Side, pixels: u64, start: Instant) {
        if let Some(trials) = &mut self.trials {
            trials[kernel as usize].record(side, pixels, start.elapsed());
        }
    }
}

impl Drop for Choice {
    /// Waits for the background search, so that no thread is left inside the GPU driver when
    /// the comparison (or the process) ends.
    fn drop(&mut self) {
        if let Some(search) = self.search.take() {
            // Its engine, or its failure, is of no use any more.
            let _ = search.join();
        }
    }
}

impl Engine for Choice {
    /// The engine that diffed the last band.
    fn info(&self) -> EngineInfo {
        match &self.gpu_info {
            Some(info) if self.last_on_gpu => info.clone(),
            _ => EngineInfo::Cpu,
        }
    }

    /// While the GPU takes the next ratio call, or the next call of a perceptual kernel that
    /// has started.
    fn waits_on_device(&self) -> bool {
        let perceptual = match &self.trials {
            Some([_, trial]) => trial.started(),
            None => true,
        };
        self.side(Kernel::Ratio) == Side::Gpu
            || (perceptual && self.side(Kernel::Perceptual) == Side::Gpu)
    }

    /// The GPU's, while one is there or looked for: the CPU diffs bands of any size alike.
    fn band_bytes(&self) -> u64 {
        match (&self.gpu, &self.search) {
            (Some(gpu), _) => gpu.band_bytes(),
            (None, Some(_)) => self.gpu_options.batch_bytes,
            (None, None) => 0,
        }
    }

    fn diff_band(
        &mut self,
        band: &Band,
        ignore_alpha: bool,
        mut diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        let pixels = u64::from(band.rows) * u64::from(band.width);
        self.call(Kernel::Ratio, pixels, |engine| {
            engine.diff_band(band, ignore_alpha, diff.as_deref_mut())
        })
    }

    fn perceive_band(&mut self, band: &Band, rule: &Rule, out: &mut Planes) -> Result<(), Error> {
        let pixels = u64::from(band.rows) * u64::from(band.width);
        self.call(Kernel::Perceptual, pixels, |engine| {
            engine.perceive_band(band, rule, out)
        })
    }

    fn flip_band(&mut self, band: &Band, rule: &FlipRule, out: &mut Vec<f32>) -> Result<(), Error> {
        self.cpu.flip_band(band, rule, out)
    }

    fn ssim_band(&mut self, band: &Band, rule: &SsimRule, out: &mut Vec<f32>) -> Result<(), Error> {
        self.cpu.ssim_band(band, rule, out)
    }
}
