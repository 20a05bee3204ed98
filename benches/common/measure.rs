//! Running one command or in-process job per round and measuring it: wall time, CPU time and
//! the child's peak RSS (`wait4`), with a timeout; a failed run is kept with its reason.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::BoxError;
use super::floor::{cpu_time, decode_pair, own_cpu_time};
use super::table::clip;

/// Standard output kept from a command's last run, at most.
const STDOUT_KEPT: u64 = 1 << 20;

/// How one row of a case's table is measured, once per round.
pub enum Job {
    /// Decoding both files at once on two threads, in this process.
    InProcess(fn(&Path) -> Result<(), BoxError>),
    /// A command; exit codes in `ok_codes` count as success.
    Command {
        program: PathBuf,
        args: Vec<OsString>,
        ok_codes: &'static [i32],
    },
}

/// A row of a case's table and the runs measured for it so far.
pub struct Row {
    pub label: String,
    pub job: Job,
    /// Wall and CPU time of each run.
    pub times: Vec<(Duration, Duration)>,
    pub max_rss: Option<u64>,
    /// First line of standard output of the last run.
    pub output: String,
    /// Standard output of the last run (its first megabyte).
    pub stdout: String,
    /// Why the row stopped being measured.
    pub failed: Option<String>,
    /// A failure means "not available here" rather than an error (the GPU row).
    pub optional: bool,
}

impl Row {
    pub fn new(label: impl Into<String>, job: Job) -> Row {
        Row {
            label: label.into(),
            job,
            times: Vec::new(),
            max_rss: None,
            output: String::new(),
            stdout: String::new(),
            failed: None,
            optional: false,
        }
    }

    pub fn command(label: impl Into<String>, program: &Path, args: Vec<OsString>) -> Row {
        let ok_codes = &[0, 1];
        let program = program.to_owned();
        Row::new(
            label,
            Job::Command {
                program,
                args,
                ok_codes,
            },
        )
    }

    /// Measures one more run, unless an earlier one failed.
    pub fn run(&mut self, a: &Path, b: &Path, scratch: &Path, timeout: Duration) {
        if self.failed.is_some() {
            return;
        }
        match &self.job {
            Job::InProcess(decode) => {
                let (start, cpu_start) = (Instant::now(), own_cpu_time());
                match decode_pair(a, b, *decode) {
                    Ok(()) => {
                        let cpu = own_cpu_time().saturating_sub(cpu_start);
                        self.times.push((start.elapsed(), cpu));
                    }
                    Err(e) => self.failed = Some(e.to_string()),
                }
            }
            Job::Command {
                program,
                args,
                ok_codes,
            } => match run_command(program, args, ok_codes, scratch, timeout) {
                Ok((wall, usage, stdout)) => {
                    self.times.push((wall, cpu_time(&usage)));
                    let rss = usage.ru_maxrss as u64 * 1024;
                    self.max_rss = Some(self.max_rss.unwrap_or(0).max(rss));
                    let line = stdout.lines().find(|l| !l.trim().is_empty());
                    self.output = line.unwrap_or_default().to_string();
                    self.stdout = stdout;
                }
                Err(why) => self.failed = Some(why),
            },
        }
    }

    /// Median wall time.
    pub fn wall(&self) -> Option<Duration> {
        median(self.times.iter().map(|t| t.0).collect())
    }
}

pub fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let n = values.len();
    (n > 0).then(|| (values[(n - 1) / 2] + values[n / 2]) / 2)
}

pub struct Exit {
    pub wall: Duration,
    pub status: i32,
    pub usage: libc::rusage,
}

/// Waits for `pid` with `wait4`, killing it after `timeout`. The wait happens
/// on a helper thread so the timeout can be enforced without polling.
pub fn wait_pid(pid: libc::pid_t, start: Instant, timeout: Duration) -> Result<Exit, String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let waited = loop {
            // SAFETY: plain system call on our own child, with valid out-pointers.
            if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != -1 {
                break Ok(start.elapsed());
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                break Err(format!("wait4: {error}"));
            }
        };
        let _ = tx.send(waited.map(|wall| Exit {
            wall,
            status,
            usage,
        }));
    });
    match rx.recv_timeout(timeout) {
        Ok(exit) => exit,
        Err(_) => {
            // SAFETY: the child has not been reaped yet (the waiter has not answered), so the
            // pid is still its own. It stays in our process group, so Ctrl-C reaches it too.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = rx.recv();
            Err(format!("timed out after {} s", timeout.as_secs()))
        }
    }
}

pub fn first_line(path: &Path) -> String {
    let Ok(file) = File::open(path) else {
        return String::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
}

/// Runs a command once: its wall time, resource usage and standard output, or why it
/// failed (an exit code not in `ok_codes`, with its first line of stderr).
pub fn run_command(
    program: &Path,
    args: &[OsString],
    ok_codes: &[i32],
    scratch: &Path,
    timeout: Duration,
) -> Result<(Duration, libc::rusage, String), String> {
    let (out_path, err_path) = (scratch.join("stdout.txt"), scratch.join("stderr.txt"));
    // A spawned child's peak RSS starts at this process's peak (exec records the high water
    // mark of the address space it replaces), so bring ours down to what is resident.
    reset_peak_rss();
    let spawned = File::create(&out_path).and_then(|out| {
        let err = File::create(&err_path)?;
        let start = Instant::now();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        Ok((child, start))
    });
    let (child, start) = spawned.map_err(|e| format!("cannot start: {e}"))?;
    // The child is reaped by wait4 below; `Child` itself never waits.
    let exit = wait_pid(child.id() as libc::pid_t, start, timeout)?;
    let status = exit.status;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    if !libc::WIFEXITED(status) || !ok_codes.contains(&code) {
        let how = if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit {code}")
        };
        let line = first_line(&err_path);
        let line = if line.is_empty() {
            first_line(&out_path)
        } else {
            line
        };
        return Err(format!("{how}: {}", clip(&line, 90)));
    }
    Ok((exit.wall, exit.usage, read_start(&out_path)))
}

/// The first `STDOUT_KEPT` bytes of a file, as text (empty when unreadable).
fn read_start(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(file) = File::open(path) {
        let _ = file.take(STDOUT_KEPT).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Lowers this process's peak RSS to its current RSS (Linux `clear_refs` value 5).
pub fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}
