//! How `auto` chooses between a GPU it has found and the CPU: by measuring both on the image
//! at hand. Each kernel is timed apart, since their work per pixel differs several times over.
//! The GPU's first call (which builds its pipelines and buffers) is not timed; then the calls
//! alternate between the engines until each has made `TIMED_CALLS` (or one call each, when one
//! engine is `CLEAR_MARGIN` times faster), and the faster in pixels per second takes the rest.
//! Every call diffs pixels that count, so the measurement costs only the time the slower engine
//! took over the faster on its share.

use std::time::Duration;

/// Timed calls each engine makes before `auto` chooses.
pub const TIMED_CALLS: u32 = 2;
/// How many times faster one engine must be for `auto` to choose after one timed call each.
pub const CLEAR_MARGIN: f64 = 2.0;

/// The kernels `auto` measures apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Ratio,
    Perceptual,
    Flip,
    Ssim,
}

impl Kernel {
    /// Every kernel, in the order of their discriminants.
    pub const ALL: [Kernel; 4] = [
        Kernel::Ratio,
        Kernel::Perceptual,
        Kernel::Flip,
        Kernel::Ssim,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Ratio => "ratio",
            Kernel::Perceptual => "perceptual",
            Kernel::Flip => "flip",
            Kernel::Ssim => "ssim",
        }
    }
}

/// One of the two engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Gpu,
    Cpu,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Gpu => "gpu",
            Side::Cpu => "cpu",
        }
    }
}

/// What `auto` measured for one kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    pub kernel: Kernel,
    /// Pixels per second over each engine's timed calls; `None` where it made none.
    pub gpu: Option<f64>,
    pub cpu: Option<f64>,
    /// The engine that took the kernel's calls after the measurement; `None` when the image
    /// ended (or the GPU failed) first.
    pub chosen: Option<Side>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Timing {
    calls: u32,
    pixels: u64,
    time: Duration,
}

impl Timing {
    fn rate(self) -> Option<f64> {
        (self.calls > 0).then(|| self.pixels as f64 / self.time.as_secs_f64().max(1e-9))
    }
}

/// One kernel's measurement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Trial {
    kernel: Kernel,
    warmed: bool,
    gpu: Timing,
    cpu: Timing,
    chosen: Option<Side>,
}

impl Trial {
    pub(crate) fn new(kernel: Kernel) -> Trial {
        Trial {
            kernel,
            warmed: false,
            gpu: Timing::default(),
            cpu: Timing::default(),
            chosen: None,
        }
    }

    /// Whether the kernel has been called.
    pub(crate) fn started(&self) -> bool {
        self.warmed
    }

    /// The engine for the kernel's next call.
    pub(crate) fn next(&self) -> Side {
        match self.chosen {
            Some(side) => side,
            None if !self.warmed || self.gpu.calls <= self.cpu.calls => Side::Gpu,
            None => Side::Cpu,
        }
    }

    /// Records a call of `side` over `pixels` that took `time`.
    pub(crate) fn record(&mut self, side: Side, pixels: u64, time: Duration) {
        if self.chosen.is_some() {
            return;
        }
        if !self.warmed {
            self.warmed = true;
            return;
        }
        let timing = match side {
            Side::Gpu => &mut self.gpu,
            Side::Cpu => &mut self.cpu,
        };
        timing.calls += 1;
        timing.pixels += pixels;
        timing.time += time;
        let (Some(gpu), Some(cpu)) = (self.gpu.rate(), self.cpu.rate()) else {
            return;
        };
        let timed = self.gpu.calls.min(self.cpu.calls);
        if timed >= TIMED_CALLS || gpu.max(cpu) >= CLEAR_MARGIN * gpu.min(cpu) {
            self.chosen = Some(if gpu > cpu { Side::Gpu } else { Side::Cpu });
        }
    }

    /// What was measured, once the kernel has been called.
    pub(crate) fn measured(&self) -> Option<Measured> {
        self.started().then_some(Measured {
            kernel: self.kernel,
            gpu: self.gpu.rate(),
            cpu: self.cpu.rate(),
            chosen: self.chosen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The GPU warms up untimed, then the engines alternate until each has its timed calls
    /// (one each when one is clearly faster), and the faster takes the rest, whichever it is.
    #[test]
    fn alternates_then_keeps_the_faster() {
        use Side::{Cpu, Gpu};
        // GPU milliseconds per call against the CPU's 5: the calls that measure, the choice.
        let cases: [(u64, &[Side], Side); 4] = [
            (1, &[Gpu, Gpu, Cpu], Gpu),
            (4, &[Gpu, Gpu, Cpu, Gpu, Cpu], Gpu),
            (6, &[Gpu, Gpu, Cpu, Gpu, Cpu], Cpu),
            (20, &[Gpu, Gpu, Cpu], Cpu),
        ];
        for (gpu_ms, measuring, want) in cases {
            let mut trial = Trial::new(Kernel::Ratio);
            assert_eq!(trial.measured(), None);
            let mut sides = Vec::new();
            for _ in 0..8 {
                let side = trial.next();
                sides.push(side);
                let took = if side == Gpu { gpu_ms } else { 5 };
                trial.record(side, 1000, ms(took));
            }
            assert_eq!(&sides[..measuring.len()], measuring, "{gpu_ms}");
            assert!(
                sides[measuring.len()..].iter().all(|&s| s == want),
                "{sides:?}"
            );
            let measured = trial.measured().unwrap();
            assert_eq!(measured.chosen, Some(want));
            let timed = (measuring.len() as u64 - 1) / 2;
            let rate = |each: u64| Some(1000.0 * timed as f64 / ms(each * timed).as_secs_f64());
            assert_eq!(measured.cpu, rate(5));
            assert_eq!(measured.gpu, rate(gpu_ms));
        }
    }

    /// The untimed first call leaves nothing measured, and nothing chosen.
    #[test]
    fn warm_up_is_not_timed() {
        let mut trial = Trial::new(Kernel::Perceptual);
        trial.record(Side::Gpu, 1000, ms(500));
        let measured = trial.measured().unwrap();
        assert_eq!(
            (measured.gpu, measured.cpu, measured.chosen),
            (None, None, None)
        );
    }
}
