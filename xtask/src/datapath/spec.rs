//! What one run of the traffic tool is asked to do (its arguments, as the
//! bench passes them) and what it measured (its one line of JSON).

use std::net::Ipv4Addr;

use anyhow::{Context, Result, bail};
use ipnet::Ipv4Net;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bursts for `secs`: packets per second and CPU per packet.
    Rate,
    /// One frame there and its reply back at a time: round-trip latency.
    PingPong,
}

/// Where vm1's frames go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// vm2, through its tap.
    Vm,
    /// A UDP socket at `ip` in the sink namespace behind the uplink.
    Uplink { ip: Ipv4Addr, netns: String },
}

#[derive(Debug, Clone)]
pub struct Args {
    pub mode: Mode,
    pub target: Target,
    pub size: usize,
    pub secs: f64,
    pub rounds: usize,
    pub pool: Ipv4Net,
    /// The bridge the taps are ports of (frames then carry the far end's
    /// MAC, or the bridge's towards the uplink); routed otherwise.
    pub bridge: Option<String>,
    pub cpu: Option<usize>,
}

impl Args {
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--mode".into(),
            match self.mode {
                Mode::Rate => "rate",
                Mode::PingPong => "pingpong",
            }
            .into(),
            "--size".into(),
            self.size.to_string(),
            "--secs".into(),
            self.secs.to_string(),
            "--rounds".into(),
            self.rounds.to_string(),
            "--pool".into(),
            self.pool.to_string(),
        ];
        if let Target::Uplink { ip, netns } = &self.target {
            a.extend([
                "--sink".into(),
                ip.to_string(),
                "--sink-netns".into(),
                netns.clone(),
            ]);
        }
        if let Some(b) = &self.bridge {
            a.extend(["--bridge".into(), b.clone()]);
        }
        if let Some(c) = self.cpu {
            a.extend(["--cpu".into(), c.to_string()]);
        }
        a
    }

    pub fn parse(args: &[String]) -> Result<Args> {
        let mut out = Args {
            mode: Mode::Rate,
            target: Target::Vm,
            size: 64,
            secs: 2.0,
            rounds: 20_000,
            pool: "10.0.0.0/24".parse()?,
            bridge: None,
            cpu: None,
        };
        let (mut sink, mut sink_netns) = (None, None);
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let v = it
                .next()
                .with_context(|| format!("__traffic: {flag} needs a value"))?;
            match flag.as_str() {
                "--mode" => {
                    out.mode = match v.as_str() {
                        "rate" => Mode::Rate,
                        "pingpong" => Mode::PingPong,
                        _ => bail!("--mode rate|pingpong"),
                    }
                }
                "--size" => out.size = v.parse().context("--size")?,
                "--secs" => out.secs = v.parse().context("--secs")?,
                "--rounds" => out.rounds = v.parse().context("--rounds")?,
                "--pool" => out.pool = v.parse().context("--pool")?,
                "--sink" => sink = Some(v.parse().context("--sink")?),
                "--sink-netns" => sink_netns = Some(v.clone()),
                "--bridge" => out.bridge = Some(v.clone()),
                "--cpu" => out.cpu = Some(v.parse().context("--cpu")?),
                other => bail!("__traffic: unknown argument {other:?}"),
            }
        }
        match (sink, sink_netns) {
            (Some(ip), Some(netns)) => out.target = Target::Uplink { ip, netns },
            (None, None) => {}
            _ => bail!("__traffic: --sink and --sink-netns go together"),
        }
        Ok(out)
    }
}

/// What one run of the tool measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub sent: u64,
    /// Within the timed window.
    pub received: u64,
    /// Never arrived (rate: not even after the window).
    pub lost: u64,
    pub secs: f64,
    /// Process CPU (user + system) over the timed part, in seconds.
    pub cpu_secs: f64,
    /// Round trips completed (ping-pong only).
    pub rtt_count: usize,
    /// Their median and 99th percentile, in microseconds.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
}

impl Outcome {
    pub fn pps(&self) -> f64 {
        self.received as f64 / self.secs.max(1e-9)
    }
    pub fn cpu_ns_per_packet(&self) -> f64 {
        self.cpu_secs * 1e9 / (self.received.max(1) as f64)
    }
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "sent": self.sent, "received": self.received, "lost": self.lost, "secs": self.secs,
            "cpu_secs": self.cpu_secs, "pps": self.pps(),
            "p50_us": self.p50_us, "p99_us": self.p99_us, "rtt_count": self.rtt_count,
        })
    }
    pub fn from_json(v: &serde_json::Value) -> Result<Outcome> {
        let f = |k: &str| {
            v[k].as_f64()
                .with_context(|| format!("__traffic output: no {k}"))
        };
        Ok(Outcome {
            sent: f("sent")? as u64,
            received: f("received")? as u64,
            lost: f("lost")? as u64,
            secs: f("secs")?,
            cpu_secs: f("cpu_secs")?,
            rtt_count: f("rtt_count")? as usize,
            p50_us: v["p50_us"].as_f64(),
            p99_us: v["p99_us"].as_f64(),
        })
    }
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((n - 1) as f64 * q).round() as usize])
}
