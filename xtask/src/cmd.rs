//! Running child processes: echoing the command line, timing, and turning failures into errors.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Runs `cmd` with inherited stdio; an error names the command if it cannot start or fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("[xtask] $ {line}");
    let status = cmd.status().with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// The trimmed stdout of `cmd`, or `None` if it cannot start or exits non-zero. Used for
/// version probes, where "not installed" and "broken" both mean "install it".
pub fn stdout_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `cmd` as a shell-like line, for logs and error messages.
pub fn display(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// A human duration: `850ms`, `12.4s`, `6m58s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60)
    }
}

/// Times `f`, returning its result and the elapsed wall time.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_pick_a_readable_unit() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(12_400)), "12.4s");
        assert_eq!(human(Duration::from_secs(418)), "6m58s");
    }

    #[test]
    fn display_joins_program_and_args() {
        let mut cmd = Command::new("trunk");
        cmd.args(["build", "--release"]);
        assert_eq!(display(&cmd), "trunk build --release");
    }
}
