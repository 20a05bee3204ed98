//! The command line's grammar: the subcommands, the comparison options they share, and the
//! parsers of their values. The library's types parse the values; their lists of names feed
//! help and completions.

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use diffimg::batch::Shard;
use diffimg::{
    Backend, Canvas, ChangedGate, Compression, FlipGate, FlipOptions, Gates, Options,
    PerceptualOptions, PixelLimits, Rect, Style, Tonemapper,
};

/// How different are two images? Prints the difference ratio: the sum of per-channel absolute
/// differences over the largest possible sum (0.0 identical, 1.0 opposite).
#[derive(Parser)]
#[command(
    name = "diffimg",
    version,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    override_usage = USAGE
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Write a man page (man) or a shell's completions (complete-bash, complete-zsh,
    /// complete-fish, complete-powershell) to stdout.
    #[arg(long, value_name = "KIND", value_enum, exclusive = true)]
    pub generate: Option<Generate>,
    #[command(flatten)]
    pub shorthand: Shorthand,
}

const USAGE: &str = "diffimg [OPTIONS] IMAGE1 IMAGE2           (diffimg compare)
       diffimg [OPTIONS] DIR_A DIR_B | --pairs FILE   (diffimg batch)
       diffimg <COMMAND>";

const AFTER_HELP: &str = "\
Without a command, two images are compared as by `diffimg compare`, and two folders or
--pairs FILE as by `diffimg batch`; `diffimg help COMMAND` lists a command's options.
Exit status: 0 compared (and within the gates), 1 over a gate (--max-ratio, --max-changed, --max-diff,
--max-flip, --min-ssim), 2 error.";

pub enum Command {
    Compare(CompareArgs),
    Batch(BatchArgs),
    Merge(MergeArgs),
}

/// The commands' arguments are built only for the command a command line names (clap's
/// `defer`): building all three would cost more than a small comparison.
impl Subcommand for Command {
    fn augment_subcommands(parser: clap::Command) -> clap::Command {
        let command = |name, about, args: fn(clap::Command) -> clap::Command| {
            clap::Command::new(name).about(about).defer(args)
        };
        parser
            .subcommand(command("compare", COMPARE_ABOUT, CompareArgs::augment_args))
            .subcommand(command("batch", BATCH_ABOUT, BatchArgs::augment_args))
            .subcommand(command("merge", MERGE_ABOUT, MergeArgs::augment_args))
    }

    fn augment_subcommands_for_update(parser: clap::Command) -> clap::Command {
        Command::augment_subcommands(parser)
    }

    fn has_subcommand(name: &str) -> bool {
        matches!(name, "compare" | "batch" | "merge")
    }
}

impl FromArgMatches for Command {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Command, clap::Error> {
        match matches.subcommand() {
            Some(("compare", args)) => Ok(Command::Compare(CompareArgs::from_arg_matches(args)?)),
            Some(("batch", args)) => Ok(Command::Batch(BatchArgs::from_arg_matches(args)?)),
            Some(("merge", args)) => Ok(Command::Merge(MergeArgs::from_arg_matches(args)?)),
            _ => Err(clap::Error::new(ErrorKind::MissingSubcommand)),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Command::from_arg_matches(matches)?;
        Ok(())
    }
}

/// The parser, its help showing the commands and `--generate` only: the arguments of a command
/// line without a command are each command's own, listed in its help.
pub fn command() -> clap::Command {
    Cli::command().mut_args(|arg| {
        let shorthand = arg.get_id() != "generate";
        arg.hide(shorthand)
    })
}

/// What `--generate` writes.
#[derive(Clone, Copy, ValueEnum)]
pub enum Generate {
    Man,
    CompleteBash,
    CompleteZsh,
    CompleteFish,
    CompletePowershell,
}

/// The arguments of a command line without a command: those of `compare` and `batch`
/// together, so that their shape (two folders, `--pairs`) tells which command it is.
#[derive(Args)]
pub struct Shorthand {
    #[arg(num_args = 0..=2)]
    pub paths: Vec<PathBuf>,
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    #[command(flatten)]
    single: SingleOutput,
    #[command(flatten)]
    batch: BatchOutput,
    #[command(flatten)]
    options: ComparisonOptions,
}

const COMPARE_ABOUT: &str =
    "Compares two images and prints the difference ratio, or every figure with --json";

#[derive(Args)]
#[command(about = COMPARE_ABOUT, after_help = COMPARE_HELP)]
pub struct CompareArgs {
    /// The reference image.
    pub image1: PathBuf,
    /// Compared against IMAGE1; with --resize, resized to its size first.
    pub image2: PathBuf,
    #[command(flatten)]
    pub output: SingleOutput,
    #[command(flatten)]
    pub options: ComparisonOptions,
}

const COMPARE_HELP: &str = "\
Example: diffimg compare before.png after.png --json -f diff.png --max-ratio 0.01
(`diffimg before.png after.png` is the same.)
Exit status: 0 compared (and within the gates), 1 over a gate (--max-ratio, --max-changed, --max-diff,
--max-flip, --min-ssim), 2 error.
PNG inputs are decoded and diffed band by band in little memory; other formats, and the image
that --resize resizes, are decoded whole.";

/// How one comparison is printed.
#[derive(Args)]
pub struct SingleOutput {
    /// Print the ratio alone (the default; kept for diffimg compatibility).
    #[arg(short, long, conflicts_with_all = ["percent", "json"])]
    pub ratio: bool,
    /// Print "Images differ by X%" instead of the ratio.
    #[arg(long, conflicts_with = "json")]
    pub percent: bool,
    /// Print every figure as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also write the diff image here (format from the extension; PNG without one).
    #[arg(short, long, value_name = "PATH")]
    pub filename: Option<PathBuf>,
    /// No progress bar and no notes on stderr; errors are still printed.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Engine, adapter, image size and timings on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

const BATCH_ABOUT: &str = "Compares every pair of images in two folders (paired by relative \
     path) or in a pair list, printing one JSON line per pair and a summary line";

#[derive(Args)]
#[command(about = BATCH_ABOUT, after_help = BATCH_HELP)]
pub struct BatchArgs {
    /// Two folders: their images are paired by relative path, recursively.
    #[arg(num_args = 0..=2, value_name = "DIR")]
    pub folders: Vec<PathBuf>,
    /// Read the pairs from FILE (- for stdin): JSON lines {"a": PATH, "b": PATH, "name": NAME}
    /// (or "name_bytes": HEX), at most 1 MiB each; relative paths are relative to the list's
    /// folder.
    #[arg(long, value_name = "FILE", conflicts_with = "folders")]
    pub pairs: Option<PathBuf>,
    #[command(flatten)]
    pub output: BatchOutput,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub options: ComparisonOptions,
}

const BATCH_HELP: &str = "\
Example: diffimg batch expected/ actual/ --diff-dir diffs --report report.html --max-ratio 0.01
(`diffimg expected/ actual/` and `diffimg --pairs list.jsonl` are the same as with `batch`.)
The comparison options apply to every pair; a --mask of another size than a pair's images
makes that pair an error record.
Exit status: 0 every pair equal or within the gates; 1 a pair over a gate, or added or
removed (unless --allow-missing); 2 a pair in error or the run could not start; 130 interrupted.";

/// What a batch writes besides its records.
#[derive(Args)]
pub struct BatchOutput {
    /// One JSON line per pair and a summary line on stdout (the default).
    #[arg(long)]
    pub json_lines: bool,
    /// Write diff images (PNG) of the pairs that differ under DIR, at their relative paths;
    /// names that would share a path are refused before the run; DIR may not be, hold or lie in
    /// an input folder.
    #[arg(long, value_name = "DIR")]
    pub diff_dir: Option<PathBuf>,
    /// Write an HTML report to PATH, with its images in a PATH_files folder beside it.
    #[arg(long, value_name = "PATH.html")]
    pub report: Option<PathBuf>,
    /// Pairs compared at once [default: the number of cores].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Run only the pairs whose name hashes to shard K of N (1 <= K <= N); the output opens
    /// with a header line naming the shard and its set of pairs.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Added and removed files are notes, not failures.
    #[arg(long)]
    pub allow_missing: bool,
}

const MERGE_ABOUT: &str =
    "Merges the outputs of several shards into one set of records, summary, report and exit status";

#[derive(Args)]
#[command(about = MERGE_ABOUT, after_help = MERGE_HELP)]
pub struct MergeArgs {
    /// The JSON-lines outputs of the shards: every shard 1..N of one run, each complete.
    #[arg(required = true, value_name = "SHARD.jsonl")]
    pub shards: Vec<PathBuf>,
    /// Write an HTML report of all the pairs to PATH.
    #[arg(long, value_name = "PATH.html")]
    pub report: Option<PathBuf>,
    /// Added and removed files are notes, not failures.
    #[arg(long)]
    pub allow_missing: bool,
}

const MERGE_HELP: &str = "\
Example: diffimg merge shard-1.jsonl shard-2.jsonl --report report.html
(each shard written by `diffimg batch A B --shard K/2 > shard-K.jsonl`)
Exit status: as of one batch run of all the pairs.";

/// The options of a comparison, the same for one pair and for every pair of a batch.
#[derive(Args)]
pub struct ComparisonOptions {
    /// Leave alpha out of the ratio; the diff image gets opaque alpha.
    #[arg(long)]
    ignore_alpha: bool,
    /// Resize IMAGE2 to IMAGE1's size first, as diffimg (Pillow) does; decodes IMAGE2 whole.
    #[arg(long)]
    resize: bool,
    /// Engine: auto picks the GPU when a hardware adapter exists and the image is large.
    #[arg(long, default_value = "auto", value_parser = named::<Backend>(&Backend::NAMES))]
    backend: Backend,
    /// Seconds the GPU may take for one piece of work before it counts as hung (auto then
    /// goes on with the CPU) [default: 5]
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, value_parser = timeout)]
    gpu_timeout: Option<f64>,
    /// MiB of each image the GPU takes in one submission (1 to 1024) [default: 8]
    #[arg(long, value_name = "MIB", value_parser = batch)]
    gpu_batch: Option<u64>,
    /// Exit with status 1 when the ratio exceeds R (a finite number, 0 or more).
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = gate)]
    max_ratio: Option<f64>,
    /// Count the pixels a person would see as changed: YIQ colour delta over 35215 * T^2
    /// (T from 0 to 1; 0.1 when only --max-changed or a --style asks for the count).
    #[arg(short, long, value_name = "T", allow_negative_numbers = true, value_parser = threshold)]
    threshold: Option<f64>,
    /// Count anti-aliased pixels apart, not as changed (turns the perceptual count on).
    #[arg(long, visible_alias = "antialiasing")]
    aa: bool,
    /// Exit with status 1 when more than N pixels changed, or more than P% of them.
    #[arg(long, value_name = "N|P%")]
    max_changed: Option<ChangedGate>,
    /// Exit with status 1 when a counted channel differs by more than V, in sample units (0 to
    /// 255, 65535 for 16-bit images, 1.0 nominally for floating point, where any NaN or
    /// infinite difference is more).
    #[arg(long, value_name = "V", allow_negative_numbers = true, value_parser = gate)]
    max_diff: Option<f64>,
    /// What the diff image shows: raw |a - b|, highlight, mask, heatmap, flip (FLIP through the
    /// magma colour map) or ssim (1 - SSIM through it); flip and ssim write the values
    /// themselves, one float channel, into .exr and .tif.
    #[arg(long, default_value = "raw", value_parser = named::<Style>(&Style::NAMES))]
    style: Style,
    /// Changed pixels in the highlight and mask styles, as #rrggbb.
    #[arg(long, value_name = "#RRGGBB", value_parser = diffimg::internals::parse_colour, default_value = "#ff0000")]
    diff_color: [u8; 3],
    /// Leave a rectangle out of every figure: X,Y,W,H in pixels; repeatable.
    #[arg(long, value_name = "X,Y,W,H")]
    ignore: Vec<Rect>,
    /// Leave out the pixels where this image (of the images' size) is not black and not fully
    /// transparent.
    #[arg(long, value_name = "PATH")]
    mask: Option<PathBuf>,
    /// Images of different sizes: an error (same), or compared on a canvas of the larger width
    /// and height, where a pixel only one image covers is changed and one neither covers is
    /// not compared (union).
    #[arg(long, default_value = "same", value_parser = named::<Canvas>(&Canvas::NAMES), conflicts_with = "resize")]
    canvas: Canvas,
    /// Refuse images whose header claims more than N pixels [default: 2^32 for PNG, streamed;
    /// 2^28 for images decoded whole: other formats, interlaced PNG, --resize]; a TIFF or
    /// OpenEXR image may hold 2 bytes per pixel of N decoded at once (512 MiB by default)
    #[arg(long, value_name = "N")]
    max_pixels: Option<u64>,
    /// PNG compression of the diff image: fast, or best for smaller files.
    #[arg(long, default_value = "fast", value_parser = named::<Compression>(&Compression::NAMES))]
    compression: Compression,
    /// FLIP per pixel (NVIDIA's render metric): its mean, extremes, percentiles and histogram;
    /// LDR-FLIP on integer images, HDR-FLIP on floating-point ones.
    #[arg(long, help_heading = "Render metrics")]
    flip: bool,
    /// Exit with status 1 when FLIP's mean exceeds V, or with pP=V its P-th percentile (0 < P
    /// < 100, such as p99=0.2); repeatable; turns FLIP on.
    #[arg(long, value_name = "V|pP=V", help_heading = "Render metrics")]
    max_flip: Vec<FlipGate>,
    /// FLIP's observer: pixels per degree of visual angle [default: 67.02, a 0.7 m wide
    /// 3840-pixel display seen from 0.7 m]; turns FLIP on.
    #[arg(long, value_name = "P", allow_negative_numbers = true, value_parser = ppd, conflicts_with = "viewing", help_heading = "Render metrics")]
    ppd: Option<f64>,
    /// FLIP's observer as a distance from the display and its width in pixels and metres;
    /// turns FLIP on.
    #[arg(long, value_name = "DISTANCE_M,WIDTH_PX,WIDTH_M", value_parser = viewing, help_heading = "Render metrics")]
    viewing: Option<f64>,
    /// HDR-FLIP's first and last exposure, in stops [default: from image 1's luminance, as
    /// NVIDIA's tool finds them]; turns FLIP on.
    #[arg(long, value_name = "START,STOP", allow_hyphen_values = true, value_parser = exposure, help_heading = "Render metrics")]
    exposure: Option<(f32, f32)>,
    /// HDR-FLIP's number of exposures: 2 or more, or 1 with START equal to STOP [default: from
    /// the range]; turns FLIP on.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Render metrics")]
    exposures: Option<u32>,
    /// HDR-FLIP's tone mapper [default: aces]; turns FLIP on.
    #[arg(long, value_parser = named::<Tonemapper>(&Tonemapper::NAMES), help_heading = "Render metrics")]
    tonemapper: Option<Tonemapper>,
    /// SSIM per colour channel (Gaussian window, sigma 1.5, as scikit-image computes it): its
    /// mean over the pixels whose window lies in the image, and its smallest pixel.
    #[arg(long, help_heading = "Render metrics")]
    ssim: bool,
    /// Exit with status 1 when SSIM's mean is below V (-1 to 1); turns SSIM on.
    #[arg(long, value_name = "V", allow_negative_numbers = true, value_parser = min_ssim, help_heading = "Render metrics")]
    min_ssim: Option<f64>,
}

impl ComparisonOptions {
    /// The library's options and gates these arguments ask for.
    // Field by field, as any user of the library builds its options.
    #[allow(clippy::field_reassign_with_default)]
    pub fn settings(&self) -> (Options, Gates) {
        let gates = Gates {
            max_ratio: self.max_ratio,
            max_changed: self.max_changed,
            max_diff: self.max_diff,
            max_flip: self.max_flip.clone(),
            min_ssim: self.min_ssim,
        };
        let mut options = Options::default();
        options.ignore_alpha = self.ignore_alpha;
        options.resize = self.resize;
        options.backend = self.backend;
        options.compression = self.compression;
        options.max_pixels = self.max_pixels.map(PixelLimits::all).unwrap_or_default();
        options.style = self.style;
        options.diff_colour = self.diff_color;
        options.ignore = self.ignore.clone();
        options.mask = self.mask.clone();
        options.canvas = self.canvas;
        options.count_changed(self.threshold, self.aa, &gates);
        let flip_wanted = self.flip
            || !self.max_flip.is_empty()
            || self.ppd.is_some()
            || self.viewing.is_some()
            || self.exposure.is_some()
            || self.exposures.is_some()
            || self.tonemapper.is_some();
        if flip_wanted {
            let defaults = FlipOptions::default();
            options.flip = Some(FlipOptions {
                ppd: self.ppd.or(self.viewing).unwrap_or(defaults.ppd),
                exposure: self.exposure,
                exposures: self.exposures,
                tonemapper: self.tonemapper.unwrap_or(defaults.tonemapper),
                percentiles: gates.flip_percentiles(),
                ..defaults
            });
        }
        options.ssim = self.ssim || self.min_ssim.is_some();
        // Both values passed the same setters when parsed.
        if let Some(seconds) = self.gpu_timeout {
            let _ = options.set_gpu_timeout(seconds);
        }
        if let Some(mib) = self.gpu_batch {
            let _ = options.set_gpu_batch(mib);
        }
        (options, gates)
    }
}

/// A value of one of the library's named types: one of `names`, parsed by `FromStr`.
fn named<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

fn number(value: &str) -> Result<f64, String> {
    value.trim().parse().map_err(|_| "not a number".into())
}

fn gate(value: &str) -> Result<f64, String> {
    Gates::check(number(value)?)
}

fn threshold(value: &str) -> Result<f64, String> {
    PerceptualOptions::check_threshold(gate(value)?)
}

fn ppd(value: &str) -> Result<f64, String> {
    FlipOptions::check_ppd(number(value)?)
}

/// `DISTANCE_M,WIDTH_PX,WIDTH_M` as pixels per degree.
fn viewing(value: &str) -> Result<f64, String> {
    let parts: Vec<&str> = value.split(',').collect();
    let [distance, pixels, width] = parts[..] else {
        return Err("three numbers: distance (m), width (pixels), width (m)".into());
    };
    let mut numbers = [distance, pixels, width].map(number);
    for n in &mut numbers {
        *n = n.clone().and_then(|v| match v.is_finite() && v > 0.0 {
            true => Ok(v),
            false => Err("each must be a finite number more than 0".into()),
        });
    }
    let [distance, pixels, width] = numbers;
    FlipOptions::check_ppd(FlipOptions::ppd_from_viewing(distance?, pixels?, width?))
}

/// `START,STOP`: two finite numbers, START at most STOP.
fn exposure(value: &str) -> Result<(f32, f32), String> {
    let (start, stop) = value
        .split_once(',')
        .ok_or("two numbers: START,STOP (stops)")?;
    let (start, stop) = (number(start)? as f32, number(stop)? as f32);
    match start.is_finite() && stop.is_finite() && start <= stop {
        true => Ok((start, stop)),
        false => Err("START and STOP must be finite, START at most STOP".into()),
    }
}

fn min_ssim(value: &str) -> Result<f64, String> {
    match number(value)? {
        v if (-1.0..=1.0).contains(&v) => Ok(v),
        _ => Err("must be from -1 to 1".into()),
    }
}

fn timeout(value: &str) -> Result<f64, String> {
    let seconds = number(value)?;
    Options::default()
        .set_gpu_timeout(seconds)
        .map(|()| seconds)
}

fn batch(value: &str) -> Result<u64, String> {
    let mib = value.trim().parse().map_err(|_| "not a whole number")?;
    Options::default().set_gpu_batch(mib).map(|()| mib)
}

#[cfg(test)]
mod tests {
    use super::command;

    /// Every option of `compare` but its output's is one of `batch`'s, with the same value
    /// names.
    #[test]
    fn batch_takes_every_comparison_option() {
        let mut command = command();
        command.build();
        let sub = |name| command.find_subcommand(name).unwrap().clone();
        let (compare, batch) = (sub("compare"), sub("batch"));
        let output = [
            "ratio", "percent", "json", "filename", "quiet", "verbose", "help",
        ];
        let mut checked = 0;
        for arg in compare.get_arguments() {
            if arg.is_positional() || output.contains(&arg.get_id().as_str()) {
                continue;
            }
            let same = batch.get_arguments().find(|b| b.get_id() == arg.get_id());
            let same = same.unwrap_or_else(|| panic!("batch lacks --{}", arg.get_id()));
            assert_eq!(same.get_long(), arg.get_long());
            assert_eq!(same.get_value_names(), arg.get_value_names());
            checked += 1;
        }
        assert!(checked >= 17, "{checked}");
    }

    #[test]
    fn the_grammar_is_consistent() {
        command().debug_assert();
    }
}
