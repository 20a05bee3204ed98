//! What a comparison is asked to do: every option, and its default.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::decode::PixelLimits;
use crate::engine::choice::{AutoOptions, Backend};
use crate::engine::gpu::GpuOptions;
use crate::ignore::Rect;
use crate::metrics::flip::FlipOptions;
use crate::output::Compression;
use crate::perception::PerceptualOptions;
use crate::report::Gates;
use crate::style::Style;

/// Called with (rows done, rows in all) after each band.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How to compare. Build it from [`Options::default`] and set the fields you need:
///
/// ```
/// let options = diffimg::Options {
///     ignore_alpha: true,
///     backend: diffimg::Backend::Cpu,
///     ..Default::default()
/// };
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct Options {
    /// Leave alpha out of the ratio and make the diff image opaque. Default: `false`.
    pub ignore_alpha: bool,
    /// Resize the second image to the first one's size as Pillow does (decodes it whole).
    /// Default: `false`.
    pub resize: bool,
    /// Which engine diffs the pixels. Default: [`Backend::Auto`].
    pub backend: Backend,
    /// Where to write the diff image, if anywhere. Default: `None`.
    pub diff_image: Option<PathBuf>,
    /// How hard the diff image's PNG encoder works. Default: [`Compression::Fast`].
    pub compression: Compression,
    /// Images whose header claims more pixels than this are refused. Default:
    /// [`PixelLimits::default`].
    pub max_pixels: PixelLimits,
    /// Pixels per band (rounded to whole rows, at least one row). Default: 2^17.
    pub band_pixels: u64,
    /// The GPU engine's timeout and batch size. Default: [`GpuOptions::default`].
    pub gpu: GpuOptions,
    /// How [`Backend::Auto`] chooses; left at its default outside tests and benchmarks.
    #[doc(hidden)]
    pub auto: AutoOptions,
    /// Called after each band. Default: `None`.
    pub progress: Option<Progress>,
    /// The perceptual count; a style other than `Raw` asks for it with the default threshold.
    /// Default: `None`.
    pub perceptual: Option<PerceptualOptions>,
    /// What the diff image shows. Default: [`Style::Raw`].
    pub style: Style,
    /// Changed pixels in the `highlight` and `mask` styles. Default: red, `[255, 0, 0]`.
    pub diff_colour: [u8; 3],
    /// Rectangles left out of every figure. Default: none.
    pub ignore: Vec<Rect>,
    /// An image of the same size whose pixels that are not black and not fully transparent are
    /// left out. Default: `None`.
    pub mask: Option<PathBuf>,
    /// Images of different sizes: an error, or compared on the union of both. Default:
    /// [`Canvas::Same`].
    pub canvas: Canvas,
    /// FLIP per pixel, pooled; [`Style::Flip`] asks for it with its defaults. Default: `None`.
    pub flip: Option<FlipOptions>,
    /// SSIM, pooled; [`Style::Ssim`] asks for it. Default: `false`.
    pub ssim: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ignore_alpha: false,
            resize: false,
            backend: Backend::Auto,
            diff_image: None,
            compression: Compression::Fast,
            max_pixels: PixelLimits::default(),
            band_pixels: 1 << 17,
            gpu: GpuOptions::default(),
            auto: AutoOptions::default(),
            progress: None,
            perceptual: None,
            style: Style::Raw,
            diff_colour: [255, 0, 0],
            ignore: Vec::new(),
            mask: None,
            canvas: Canvas::Same,
            flip: None,
            ssim: false,
        }
    }
}

impl Options {
    /// Turns the perceptual count on when a threshold is given, `aa` is set, `gates` count
    /// changed pixels or the style draws them (with the default threshold where none is given),
    /// and off otherwise.
    pub fn count_changed(&mut self, threshold: Option<f64>, aa: bool, gates: &Gates) {
        let wanted =
            threshold.is_some() || aa || gates.max_changed.is_some() || self.style.draws_planes();
        self.perceptual = wanted.then(|| PerceptualOptions {
            threshold: threshold.unwrap_or(PerceptualOptions::default().threshold),
            aa,
        });
    }

    /// The FLIP options asked for: `flip`, or the defaults when the style draws FLIP.
    pub(crate) fn flip_wanted(&self) -> Option<FlipOptions> {
        self.flip
            .clone()
            .or((self.style == Style::Flip).then(FlipOptions::default))
    }

    /// Whether SSIM is asked for: `ssim`, or the style draws it.
    pub(crate) fn ssim_wanted(&self) -> bool {
        self.ssim || self.style == Style::Ssim
    }

    /// Sets the seconds the GPU may take for one piece of work before it counts as hung: a
    /// finite number more than 0.
    pub fn set_gpu_timeout(&mut self, seconds: f64) -> Result<(), String> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err("must be a finite number more than 0".into());
        }
        self.gpu.timeout = Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Sets the MiB of each image the GPU takes in one submission: 1 to 1024.
    pub fn set_gpu_batch(&mut self, mib: u64) -> Result<(), String> {
        if !(1..=1024).contains(&mib) {
            return Err("must be from 1 to 1024".into());
        }
        self.gpu.batch_bytes = mib << 20;
        Ok(())
    }
}

/// What images of different sizes are compared on (without `resize`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Canvas {
    /// They are not: different sizes are an error.
    #[default]
    Same,
    /// Both at the top left of a canvas of the larger width and height; a pixel only one image
    /// covers is changed, and in the ratio the largest difference on every channel; a pixel
    /// neither covers is not compared.
    Union,
}

impl Canvas {
    /// Every canvas's name, as `FromStr` takes it.
    pub const NAMES: [&str; 2] = ["same", "union"];
}

impl std::str::FromStr for Canvas {
    type Err = String;

    fn from_str(name: &str) -> Result<Canvas, String> {
        match name {
            "same" => Ok(Canvas::Same),
            "union" => Ok(Canvas::Union),
            _ => Err(format!("'{name}' is not same or union")),
        }
    }
}
