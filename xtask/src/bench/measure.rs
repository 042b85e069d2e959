//! Timing one process: `__measure` (the wrapper run inside the namespace),
//! the samples it reports, and their medians.

use super::*;

/// `xtask __measure OUT PROGRAM ARGS...`: runs the program with its output
/// in OUT and prints `elapsed_ns peak_rss_kib exit_code`.
pub fn measure(args: &[String]) -> Result<()> {
    let [out, program, rest @ ..] = args else {
        bail!("usage: xtask __measure OUT PROGRAM [ARGS...]");
    };
    let out = File::create(out).with_context(|| format!("creating {out}"))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(program);
    cmd.args(rest).stdin(Stdio::null()).stdout(out).stderr(err);
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("starting {program}"))?;
    let elapsed = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .context("getrusage")?;
    println!(
        "{} {} {}",
        elapsed.as_nanos(),
        usage.max_rss(),
        status.code().unwrap_or(-1)
    );
    Ok(())
}

/// One measured process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) elapsed: Duration,
    pub(crate) peak_rss_kib: u64,
}

/// Runs `program` under `__measure` in the calling thread's namespace.
pub(crate) fn timed(
    env: &Env,
    label: &str,
    program: &Path,
    args: &[&str],
) -> Result<(Sample, String)> {
    let log = env.scratch.join("step.log");
    let out = Command::new(&env.xtask)
        .arg("__measure")
        .arg(&log)
        .arg(program)
        .args(args)
        .env("BLIXARD_LOCK_DIR", &env.scratch)
        .env("BLIXARD_STATE_DIR", &env.scratch)
        .env("BX_ISOLATED", "1")
        .env_remove("SUDO_USER")
        .output()
        .with_context(|| format!("{label}: starting the measuring wrapper"))?;
    ensure!(
        out.status.success(),
        "{label}: measuring wrapper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse::<i64>().map(|v| v as u64))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{label}: unreadable measurement {text:?}"))?;
    let [ns, rss, code] = fields[..] else {
        bail!("{label}: unreadable measurement {text:?}");
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    ensure!(
        code == 0,
        "{label} exited with {} after {:.3} s:\n{output}",
        code as i64,
        ns as f64 / 1e9
    );
    Ok((
        Sample {
            elapsed: Duration::from_nanos(ns),
            peak_rss_kib: rss,
        },
        output,
    ))
}

/// Runs a shell snippet (not timed) in the calling thread's namespace.
pub(crate) fn sh(script: &str) -> Result<String> {
    let out = Command::new("sh")
        .args(["-ec", script])
        .output()
        .with_context(|| format!("starting sh for {script:?}"))?;
    ensure!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn median(samples: &[Sample]) -> Option<Sample> {
    if samples.is_empty() {
        return None;
    }
    let mut times: Vec<Duration> = samples.iter().map(|s| s.elapsed).collect();
    let mut rss: Vec<u64> = samples.iter().map(|s| s.peak_rss_kib).collect();
    times.sort();
    rss.sort();
    let mid = samples.len() / 2;
    let (elapsed, peak_rss_kib) = if samples.len() % 2 == 1 {
        (times[mid], rss[mid])
    } else {
        (
            (times[mid - 1] + times[mid]) / 2,
            (rss[mid - 1] + rss[mid]) / 2,
        )
    };
    Some(Sample {
        elapsed,
        peak_rss_kib,
    })
}
