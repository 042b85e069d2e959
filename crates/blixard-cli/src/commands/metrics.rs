//! `metrics --listen ADDR`: the per-VM counters at `GET /metrics` in the
//! Prometheus text exposition format (0.0.4), read from our table on each
//! scrape. A tiny HTTP/1.1 server on std::net: one connection at a time,
//! each closed after its answer; anything but `GET /metrics` is a 404.
//!
//! Receive and transmit are the VM's, as a node_exporter inside the guest
//! would name its interface's: `receive` is what was sent to the VM.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use blixard_host::Host;
use blixard_nat::VmCounters;

use super::{Failure, stats};
use crate::cli::Args;

/// A request head larger than this is refused.
const MAX_HEAD: usize = 8 * 1024;

pub fn run(args: &Args, host: &Host, listen: SocketAddr) -> Result<ExitCode, Failure> {
    // Config errors are the operator's before the first scrape.
    stats::read(args, host)?;
    let listener = TcpListener::bind(listen)
        .map_err(|e| Failure::BadInput(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(listen);
    eprintln!("blixard-net: serving http://{bound}/metrics");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // One slow or broken client must not stop the next scrape.
        match serve(args, host, stream) {
            Ok(()) => {}
            // A client gone before its answer (a probe that only connects).
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
            Err(e) => eprintln!("blixard-net: metrics: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: &Args, host: &Host, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    // The rest of the head, up to the blank line.
    let mut head = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        head += n;
        if n == 0 || line == "\r\n" || line == "\n" || head > MAX_HEAD {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next(), parts.next());
    let path = path.map(|p| p.split('?').next().unwrap_or(p));
    let (status, body) = match (method, path) {
        (Some("GET"), Some("/metrics")) => match stats::read(args, host) {
            Ok((_, counters)) => ("200 OK", exposition(&counters)),
            Err(e) => ("500 Internal Server Error", format!("{e}\n")),
        },
        _ => ("404 Not Found", "only GET /metrics is served\n".to_string()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// One metric family: its name, help, and how to read it from a VM's
/// counters.
type Family = (&'static str, &'static str, fn(&VmCounters) -> u64);

const FAMILIES: [Family; 6] = [
    (
        "blixard_vm_receive_bytes_total",
        "Bytes of IP packets sent to the VM (leaving the host by its tap).",
        |c| c.receive.bytes,
    ),
    (
        "blixard_vm_receive_packets_total",
        "IP packets sent to the VM (leaving the host by its tap).",
        |c| c.receive.packets,
    ),
    (
        "blixard_vm_transmit_bytes_total",
        "Bytes of IP packets the VM sent (arriving by its tap), dropped or not.",
        |c| c.transmit.bytes,
    ),
    (
        "blixard_vm_transmit_packets_total",
        "IP packets the VM sent (arriving by its tap), dropped or not.",
        |c| c.transmit.packets,
    ),
    (
        "blixard_vm_spoofed_drops_total",
        "Packets from the VM with a source address not its own, dropped.",
        |c| c.spoofed_drops.packets,
    ),
    (
        "blixard_vm_firewall_drops_total",
        "Packets from or to the VM that a firewall default or rule dropped.",
        |c| c.firewall_drops.packets,
    ),
];

/// The counters in the text exposition format: per family a HELP and a
/// TYPE line, then one sample per VM.
pub(super) fn exposition(counters: &[VmCounters]) -> String {
    let mut out = String::new();
    for (name, help, value) in FAMILIES {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for c in counters {
            out.push_str(&format!(
                "{name}{{vm=\"{}\"}} {}\n",
                label_value(&c.vm),
                value(c)
            ));
        }
    }
    out
}

/// A label value escaped as the format wants (`\\`, `\"`, `\n`).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_type_and_a_sample_per_vm() {
        let mut a = VmCounters::default();
        a.vm = "vm3".into();
        a.receive.bytes = 42;
        a.firewall_drops.packets = 2;
        let text = exposition(&[a]);
        assert!(text.contains("# TYPE blixard_vm_receive_bytes_total counter\n"));
        assert!(text.contains("blixard_vm_receive_bytes_total{vm=\"vm3\"} 42\n"));
        assert!(text.contains("blixard_vm_firewall_drops_total{vm=\"vm3\"} 2\n"));
        assert_eq!(text.lines().filter(|l| l.starts_with("# HELP")).count(), 6);
        assert_eq!(label_value("a\"b\\c"), "a\\\"b\\\\c");
    }
}
