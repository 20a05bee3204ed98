//! The screenshot diff tools the perceptual benchmark compares with (odiff and blazediff),
//! where to find or install them, how to run them, and how to read their counts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::find_on_path;
use super::measure::{Job, Row};

/// The threshold every tool is run with.
pub const THRESHOLD: &str = "0.1";

pub struct Peer {
    pub name: &'static str,
    /// The row's label: the tool and its flags, as short as the table needs.
    pub label: &'static str,
    /// Environment variable naming the binary.
    pub env: &'static str,
    /// The native binary, under the npm prefix.
    pub installed: &'static str,
    /// Arguments for comparing the two inputs, counting changed pixels.
    pub args: fn(&Path, &Path) -> Vec<OsString>,
    /// Exit codes meaning "compared" (equal or different), as each tool documents them.
    pub ok_codes: &'static [i32],
    /// The changed-pixel count in the tool's standard output.
    pub count: fn(&str) -> Option<u64>,
}

pub const PEERS: &[Peer] = &[
    Peer {
        name: "odiff",
        label: "odiff --aa -t 0.1",
        env: "ODIFF",
        installed: "node_modules/@odiff/linux-x64/odiff",
        args: |a, b| {
            let flags = ["--parsable-stdout", "--aa", "-t", THRESHOLD];
            [a.into(), b.into()]
                .into_iter()
                .chain(flags.map(OsString::from))
                .collect()
        },
        ok_codes: &[0, 22],
        count: odiff_count,
    },
    Peer {
        name: "blazediff",
        label: "blazediff -a -t 0.1",
        env: "BLAZEDIFF",
        installed: "node_modules/@blazediff/bin-linux-x64/blazediff",
        args: |a, b| {
            let flags = ["-a", "-t", THRESHOLD];
            [a.into(), b.into()]
                .into_iter()
                .chain(flags.map(OsString::from))
                .collect()
        },
        ok_codes: &[0, 1],
        count: |stdout| json_count(stdout, "diffCount"),
    },
];

pub const NPM_PACKAGES: [&str; 2] = ["odiff-bin@4.5.0", "@blazediff/bin@3.5.0"];

pub fn find_peer(peer: &Peer, prefix: &Path) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(peer.env) {
        return Some(PathBuf::from(path));
    }
    let installed = prefix.join(peer.installed);
    if installed.is_file() {
        return Some(installed);
    }
    find_on_path(peer.name)
}

/// Finds each peer, installing them with npm first if one is missing and `install` is set.
pub fn find_peers(prefix: &Path, install: bool) -> Vec<Option<PathBuf>> {
    let found: Vec<_> = PEERS.iter().map(|p| find_peer(p, prefix)).collect();
    if found.iter().all(Option::is_some) || !install || find_on_path("npm").is_none() {
        return found;
    }
    println!(
        "installing peers: npm install --prefix {} {}",
        prefix.display(),
        NPM_PACKAGES.join(" ")
    );
    let status = Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args(NPM_PACKAGES)
        .status();
    if !status.as_ref().is_ok_and(|s| s.success()) {
        println!("  npm install failed: {status:?}");
    }
    PEERS.iter().map(|p| find_peer(p, prefix)).collect()
}

pub fn peer_flags(peer: &Peer) -> String {
    let args = (peer.args)(Path::new("A"), Path::new("B"));
    args.iter()
        .skip(2)
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first number of odiff's `--parsable-stdout` line (`count;percent`, or `0`).
pub fn odiff_count(stdout: &str) -> Option<u64> {
    let line = stdout.lines().find(|l| !l.trim().is_empty())?;
    line.split(';').next()?.trim().parse().ok()
}

/// A whole-number field anywhere in a JSON document.
pub fn json_count(stdout: &str, key: &str) -> Option<u64> {
    fn find(value: &serde_json::Value, key: &str) -> Option<u64> {
        match value {
            serde_json::Value::Object(map) => map
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .or_else(|| map.values().find_map(|v| find(v, key))),
            serde_json::Value::Array(items) => items.iter().find_map(|v| find(v, key)),
            _ => None,
        }
    }
    find(&serde_json::from_str(stdout.trim()).ok()?, key)
}

/// The same arguments without the anti-aliasing flag (`--aa` or `-a`).
pub fn without_aa(args: &[OsString]) -> Vec<OsString> {
    args.iter()
        .filter(|a| *a != "--aa" && *a != "-a")
        .cloned()
        .collect()
}

/// Runs a command once, untimed, and reads a count from its standard output.
pub fn count_once(
    program: &Path,
    args: &[OsString],
    count: impl Fn(&str) -> Option<u64>,
) -> Result<u64, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start: {e}"))?;
    count(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().next().unwrap_or_default().trim().to_string();
        format!("{}: {line}", out.status)
    })
}

/// `value` against `base`, as a signed percentage.
pub fn gap(value: u64, base: u64) -> String {
    if base == 0 {
        return if value == 0 {
            "equal".into()
        } else {
            "-".into()
        };
    }
    format!(
        "{:+.3}%",
        (value as f64 - base as f64) / base as f64 * 100.0
    )
}

/// One tool's changed-pixel counts: with the anti-aliasing test (from the timed runs), and
/// without it (one untimed run, small cases only).
pub struct Counts {
    pub name: &'static str,
    pub with_aa: Result<u64, String>,
    pub plain: Option<Result<u64, String>>,
    /// The anti-aliased pixels the tool reports itself (diffimg's `aa_pixels`).
    pub aa_pixels: Option<u64>,
}

/// Counts from a measured row, and from one more run of its command without the AA flag.
pub fn counts(
    name: &'static str,
    row: &Row,
    plain: bool,
    count: fn(&str) -> Option<u64>,
) -> Counts {
    let with_aa = match (&row.failed, row.times.is_empty()) {
        (Some(why), _) => Err(why.clone()),
        (None, true) => Err("no runs".into()),
        (None, false) => count(&row.stdout).ok_or_else(|| "no count in its output".into()),
    };
    let plain = match &row.job {
        Job::Command { program, args, .. } if plain && with_aa.is_ok() => {
            Some(count_once(program, &without_aa(args), count))
        }
        _ => None,
    };
    Counts {
        name,
        with_aa,
        plain,
        aa_pixels: None,
    }
}
