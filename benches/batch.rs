//! Batch benchmark: 2,000 pairs of 1280x800 PNG screenshots (90% byte-identical files, 5% the
//! same pixels encoded differently, 5% with visible edits), compared by `diffimg DIR_A DIR_B`
//! against a loop that starts `odiff` once per pair and against one `odiff --server`, in the
//! same run; every tool writes diff images of the pairs that differ. Also measured, to show
//! where the time goes: diffimg without diff images, diffimg started once per pair, the
//! start-up of each binary, and the batch's own per-pair times by kind of pair.
//!
//! `cargo bench --bench batch`. The pairs are generated once (fixed seeds) under
//! `target/bench-data/batch-v1-<pairs>/`. odiff is looked for in `ODIFF`, then in
//! `target/peers/node_modules/@odiff/linux-x64/odiff` (`npm install odiff-bin@4.5.0` in
//! `target/peers`), then on `PATH`; without it its rows are left out. `BENCH_PAIRS` changes
//! the number of pairs, `BENCH_RUNS` the runs of the batch rows (default 3; the loops run
//! once). Without `--bench` (as `cargo test --benches` runs it) it makes one quick pass over
//! 20 pairs.

use std::collections::HashMap;
use std::error::Error;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type BoxError = Box<dyn Error + Send + Sync>;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 800;

/// What a pair's second file is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    /// A copy of the first file.
    Identical,
    /// The same pixels, encoded with another compression level.
    Reencoded,
    /// Visible edits: a moved button, a recoloured header, changed text.
    Edited,
}

impl Kind {
    /// 90% identical, 5% re-encoded, 5% edited, spread evenly.
    fn of(index: usize) -> Kind {
        match index % 20 {
            7 => Kind::Reencoded,
            13 => Kind::Edited,
            _ => Kind::Identical,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Identical => "byte-identical",
            Kind::Reencoded => "re-encoded",
            Kind::Edited => "edited",
        }
    }
}

/// A UI-like screenshot: title bar, sidebar, text-like rows, cards and a button; `edited`
/// moves the button, recolours the title bar and rewrites a few rows.
fn screenshot(seed: u64, edited: bool) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut px = vec![0u8; w * h * 4];
    let mut fill = |x: usize, y: usize, rw: usize, rh: usize, c: [u8; 3]| {
        for row in y..(y + rh).min(h) {
            for col in x..(x + rw).min(w) {
                px[(row * w + col) * 4..][..4].copy_from_slice(&[c[0], c[1], c[2], 255]);
            }
        }
    };
    fill(0, 0, w, h, [248, 249, 251]);
    let bar = if edited { [38, 92, 196] } else { [28, 32, 46] };
    fill(0, 0, w, 48, bar);
    fill(0, 48, 220, h - 48, [235, 237, 242]);
    for item in 0..14 {
        fill(
            24,
            72 + item * 34,
            90 + rng.usize(..80),
            10,
            [140, 146, 162],
        );
    }
    for card in 0..3 {
        let (x, y) = (250 + card * 340, 80);
        fill(x, y, 310, 150, [255, 255, 255]);
        fill(x + 16, y + 20, 120 + rng.usize(..120), 14, [40, 44, 60]);
        for line in 0..5 {
            fill(
                x + 16,
                y + 50 + line * 18,
                200 + rng.usize(..80),
                7,
                [120, 126, 142],
            );
        }
    }
    let rewritten = if edited { 3 } else { 0 };
    for row in 0..16 {
        let y = 270 + row * 28;
        let mut x = 250;
        let mut words =
            fastrand::Rng::with_seed(seed * 100 + row as u64 + if row < rewritten { 7 } else { 0 });
        while x < 1200 {
            let word = 20 + words.usize(..70);
            fill(x, y, word, 9, [70, 74, 90]);
            x += word + 8;
        }
    }
    let button_x = if edited { 1010 } else { 1090 };
    fill(button_x, 730, 150, 40, [224, 36, 94]);
    px
}

fn write_png(path: &Path, pixels: &[u8], compression: png::Compression) -> Result<(), BoxError> {
    let mut encoder = png::Encoder::new(BufWriter::new(File::create(path)?), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_compression(compression);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(())
}

/// Makes (once) the folders `a` and `b` of `pairs` pairs under `dir`.
fn ensure_tree(dir: &Path, pairs: usize) -> Result<(), BoxError> {
    let done = dir.join("complete");
    if done.exists() {
        return Ok(());
    }
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("a"))?;
    fs::create_dir_all(dir.join("b"))?;
    eprintln!("generating {pairs} pairs under {} ...", dir.display());
    for i in 0..pairs {
        let name = format!("{:02}/shot-{i:04}.png", i % 50);
        let (a, b) = (dir.join("a").join(&name), dir.join("b").join(&name));
        fs::create_dir_all(a.parent().ok_or("no parent")?)?;
        fs::create_dir_all(b.parent().ok_or("no parent")?)?;
        let pixels = screenshot(i as u64, false);
        write_png(&a, &pixels, png::Compression::Balanced)?;
        match Kind::of(i) {
            Kind::Identical => {
                fs::copy(&a, &b)?;
            }
            Kind::Reencoded => write_png(&b, &pixels, png::Compression::Fast)?,
            Kind::Edited => write_png(&b, &screenshot(i as u64, true), png::Compression::Balanced)?,
        }
    }
    File::create(done)?;
    Ok(())
}

/// Every pair's two files and its kind.
fn pair_list(dir: &Path, pairs: usize) -> Vec<(PathBuf, PathBuf, Kind)> {
    (0..pairs)
        .map(|i| {
            let name = format!("{:02}/shot-{i:04}.png", i % 50);
            (
                dir.join("a").join(&name),
                dir.join("b").join(&name),
                Kind::of(i),
            )
        })
        .collect()
}

fn odiff() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ODIFF") {
        return Some(path.into());
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/peers/node_modules/@odiff/linux-x64/odiff");
    if local.is_file() {
        return Some(local);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("odiff"))
        .find(|p| p.is_file())
}

/// Runs `command` to completion; fails on a status outside `ok`.
fn run(command: &mut Command, ok: &[i32]) -> Result<(Duration, Vec<u8>), BoxError> {
    let start = Instant::now();
    let out = command.stderr(Stdio::piped()).output()?;
    let took = start.elapsed();
    match out.status.code() {
        Some(code) if ok.contains(&code) => Ok((took, out.stdout)),
        code => Err(format!(
            "{command:?} exited with {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        )
        .into()),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn fresh(dir: &Path) -> Result<PathBuf, BoxError> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    Ok(dir.to_owned())
}

struct Row {
    label: String,
    wall: Duration,
    differing: usize,
}

fn main() -> Result<(), BoxError> {
    let benching = std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let pairs = if benching {
        env("BENCH_PAIRS", 2000)
    } else {
        20
    };
    let runs = if benching { env("BENCH_RUNS", 3) } else { 1 };
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let data = target.join(format!("bench-data/batch-v1-{pairs}"));
    let scratch = target.join(format!("bench-data/batch-out-{}", std::process::id()));
    ensure_tree(&data, pairs)?;
    let list = pair_list(&data, pairs);
    let diffimg = PathBuf::from(env!("CARGO_BIN_EXE_diffimg"));
    let (a, b) = (data.join("a"), data.join("b"));
    let mut rows = Vec::new();

    // diffimg, one process for all pairs, with and without diff images.
    let mut records = Vec::new();
    for with_diffs in [true, false] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let mut command = Command::new(&diffimg);
            command.args([&a, &b]).arg("--quiet");
            if with_diffs {
                command
                    .arg("--diff-dir")
                    .arg(fresh(&scratch.join("diffimg"))?);
            }
            let (took, stdout) = run(&mut command, &[0])?;
            times.push(took);
            records = String::from_utf8(stdout)?
                .lines()
                .map(serde_json::from_str::<serde_json::Value>)
                .collect::<Result<_, _>>()?;
        }
        let differing = records.iter().filter(|r| r["status"] == "changed").count();
        let label = if with_diffs {
            "diffimg A B --diff-dir D (one process)"
        } else {
            "diffimg A B (one process, ratios only)"
        };
        rows.push(Row {
            label: label.into(),
            wall: median(times),
            differing,
        });
    }
    let summary = records.last().cloned().unwrap_or_default();

    // diffimg started once per pair.
    let start = Instant::now();
    let mut differing = 0;
    for (pa, pb, _) in &list {
        let (_, out) = run(Command::new(&diffimg).args([pa, pb]), &[0])?;
        differing += usize::from(String::from_utf8_lossy(&out).trim() != "0.0");
    }
    rows.push(Row {
        label: "diffimg A B, once per pair".into(),
        wall: start.elapsed(),
        differing,
    });

    let odiff = odiff();
    if let Some(odiff) = &odiff {
        let out_dir = fresh(&scratch.join("odiff"))?;
        let start = Instant::now();
        let mut differing = 0;
        for (i, (pa, pb, _)) in list.iter().enumerate() {
            let diff = out_dir.join(format!("{i}.png"));
            let (_, out) = run(
                Command::new(odiff)
                    .arg(pa)
                    .arg(pb)
                    .arg(&diff)
                    .arg("--parsable-stdout"),
                &[0, 22],
            )?;
            // `count;percent` when pixels differ, `0` when none do.
            differing += usize::from(String::from_utf8_lossy(&out).contains(';'));
        }
        rows.push(Row {
            label: "odiff A B D, once per pair".into(),
            wall: start.elapsed(),
            differing,
        });

        let mut times = Vec::new();
        for _ in 0..runs {
            let out_dir = fresh(&scratch.join("odiff-server"))?;
            let (took, count) = odiff_server(odiff, &list, &out_dir)?;
            times.push(took);
            differing = count;
        }
        rows.push(Row {
            label: "odiff --server (one process)".into(),
            wall: median(times),
            differing,
        });
    } else {
        eprintln!("odiff not found: npm install odiff-bin@4.5.0 in target/peers, or set ODIFF");
    }
    let _ = fs::remove_dir_all(&scratch);

    let loop_time = rows
        .iter()
        .find(|r| r.label.starts_with("odiff A B D"))
        .map(|r| r.wall);
    println!(
        "\n{pairs} pairs of {WIDTH}x{HEIGHT} PNG screenshots ({runs} runs of the one-process rows, median; loops once)\n"
    );
    println!("| command | wall time | per pair | pairs found differing | vs odiff loop |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        let speedup = loop_time.map_or(String::from("-"), |l| {
            format!("{:.1}x", l.as_secs_f64() / row.wall.as_secs_f64())
        });
        println!(
            "| {} | {:.2} s | {:.2} ms | {} | {speedup} |",
            row.label,
            row.wall.as_secs_f64(),
            row.wall.as_secs_f64() * 1000.0 / pairs as f64,
            row.differing
        );
    }
    where_time_goes(&records, &list, &diffimg, odiff.as_deref(), &summary)?;
    Ok(())
}

/// One `odiff --server`, every pair's request written at once; returns the time until the
/// last answer, and how many pairs it found differing.
fn odiff_server(
    odiff: &Path,
    list: &[(PathBuf, PathBuf, Kind)],
    out_dir: &Path,
) -> Result<(Duration, usize), BoxError> {
    let start = Instant::now();
    let mut child = Command::new(odiff)
        .arg("--server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let requests: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, (a, b, _))| {
            serde_json::json!({"requestId": i, "base": a, "compare": b,
                "output": out_dir.join(format!("{i}.png"))})
            .to_string()
        })
        .collect();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        for request in requests {
            writeln!(stdin, "{request}")?;
        }
        Ok(())
    });
    let mut differing = 0;
    let mut answers = 0;
    for line in BufReader::new(child.stdout.take().ok_or("no stdout")?).lines() {
        let reply: serde_json::Value = serde_json::from_str(&line?)?;
        if reply.get("ready").is_some() {
            continue;
        }
        if let Some(error) = reply.get("error") {
            return Err(format!("odiff --server: {error}").into());
        }
        differing += usize::from(reply["match"] == false);
        answers += 1;
        if answers == list.len() {
            break;
        }
    }
    let took = start.elapsed();
    writer.join().map_err(|_| "writer panicked")??;
    child.kill()?;
    child.wait()?;
    Ok((took, differing))
}

/// Where the batch's time goes: its records' own times by kind of pair, and what starting a
/// process costs each tool.
fn where_time_goes(
    records: &[serde_json::Value],
    list: &[(PathBuf, PathBuf, Kind)],
    diffimg: &Path,
    odiff: Option<&Path>,
    summary: &serde_json::Value,
) -> Result<(), BoxError> {
    let kinds: HashMap<String, Kind> = list
        .iter()
        .filter_map(|(a, _, kind)| {
            let name = a.to_string_lossy();
            let (_, rest) = name.split_once("/a/")?;
            Some((rest.to_owned(), *kind))
        })
        .collect();
    println!("\nInside the batch (ratios only): time per pair, by kind, summed over pairs\n");
    println!("| pairs | count | total | mean per pair |");
    println!("|---|---|---|---|");
    for kind in [Kind::Identical, Kind::Reencoded, Kind::Edited] {
        let times: Vec<f64> = records
            .iter()
            .filter(|r| r["name"].as_str().and_then(|n| kinds.get(n)) == Some(&kind))
            .filter_map(|r| r["elapsed_ms"].as_f64())
            .collect();
        let total: f64 = times.iter().sum();
        println!(
            "| {} | {} | {:.0} ms | {:.2} ms |",
            kind.label(),
            times.len(),
            total,
            total / times.len().max(1) as f64
        );
    }
    println!("\nsummary: {summary}");
    let start_up = |binary: &Path, args: &[&str], ok: &[i32]| -> Result<Duration, BoxError> {
        let times = (0..20)
            .map(|_| run(Command::new(binary).args(args), ok).map(|r| r.0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(median(times))
    };
    let (pa, pb, _) = list
        .iter()
        .find(|p| p.2 == Kind::Identical)
        .ok_or("no pair")?;
    let (ea, eb, _) = list.iter().find(|p| p.2 == Kind::Edited).ok_or("no pair")?;
    let one = |binary: &Path, a: &Path, b: &Path, ok: &[i32]| -> Result<Duration, BoxError> {
        let times = (0..10)
            .map(|_| run(Command::new(binary).arg(a).arg(b), ok).map(|r| r.0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(median(times))
    };
    println!("\nOne process, median of 10-20 runs\n");
    println!("| command | wall time |");
    println!("|---|---|");
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| diffimg --version (start-up) | {} |",
        ms(start_up(diffimg, &["--version"], &[0])?)
    );
    println!(
        "| diffimg, a byte-identical pair | {} |",
        ms(one(diffimg, pa, pb, &[0])?)
    );
    println!(
        "| diffimg, an edited pair | {} |",
        ms(one(diffimg, ea, eb, &[0])?)
    );
    if let Some(odiff) = odiff {
        println!(
            "| odiff --version (start-up) | {} |",
            ms(start_up(odiff, &["--version"], &[0])?)
        );
        println!(
            "| odiff, a byte-identical pair | {} |",
            ms(one(odiff, pa, pb, &[0, 22])?)
        );
        println!(
            "| odiff, an edited pair | {} |",
            ms(one(odiff, ea, eb, &[0, 22])?)
        );
    }
    Ok(())
}
