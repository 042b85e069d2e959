//! Wiring one contender in the case's fresh namespace: the uplink into the
//! sink namespace, then our table, bare routes, a bridge or a flowtable.

use std::fmt::Write as _;

use anyhow::{Context, Result, ensure};
use blixard_netns::testing::NetnsHolder;
use ipnet::Ipv4Net;

use super::{Contender, SINK_V4};
use crate::bench::{Env, pool_for, sh, timed};

/// The host's side of the uplink, and the bridge of the bridge contender.
pub(super) const UPLINK: &str = "bx-up0";
pub(super) const BRIDGE: &str = "bx-br0";
/// The host's address on the uplink.
const HOST_UPLINK_V4: &str = "192.0.2.1";
/// Our table (the default config's).
const TABLE: &str = blixard_addr::config::DEFAULT_NFT_TABLE;
/// The protocol our routes carry (the default config's).
const ROUTE_PROTOCOL: u8 = blixard_addr::config::DEFAULT_ROUTE_PROTOCOL;

pub(super) fn pool(vms: u32) -> Ipv4Net {
    pool_for(vms).parse().expect("a pool")
}

/// Wires `contender`; `Ok(Err(why))` when this kernel cannot.
pub(super) fn wire(
    env: &Env,
    contender: Contender,
    sink: &NetnsHolder,
) -> Result<std::result::Result<(), String>> {
    sh("ip link set lo up")?;
    ensure!(
        sh("ip -o link show")?.lines().count() == 1,
        "the fresh namespace is not empty"
    );
    if contender == Contender::Flowtable
        && let Err(why) = probe_flowtable()
    {
        return Ok(Err(why));
    }
    sh(&format!(
        "ip link add {UPLINK} type veth peer name eth0 && ip link set eth0 netns {pid} && \
         ip addr add {HOST_UPLINK_V4}/24 dev {UPLINK} && ip link set {UPLINK} up && \
         ip route add default via {SINK_V4} dev {UPLINK}",
        pid = sink.pid()
    ))?;
    // The route back to the pool serves the contenders without NAT; ours
    // masquerades, so its replies never need it.
    let out = sink.sh(&format!(
        "ip link set lo up && ip addr add {SINK_V4}/24 dev eth0 && ip link set eth0 up && \
         ip route add 10.0.0.0/16 via {HOST_UPLINK_V4}"
    ));
    ensure!(
        out.status.success(),
        "setting up the sink: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let vms = contender.vms();
    let config = env.config_with(vms, false, UPLINK)?;
    let config = config.to_str().context("utf-8 scratch path")?;
    let label = format!("data path: apply for {}", contender.name());
    let (_, out) = timed(env, &label, &env.blixard, &["--config", config, "apply"])?;
    ensure!(out.contains("change(s) made"), "{label}: {out}");
    match contender {
        Contender::Ours | Contender::Ours4096 => {}
        Contender::Bare | Contender::Bare4096 => {
            sh(&format!("nft delete table inet {TABLE}"))?;
        }
        Contender::Bridge => bridge(vms, false)?,
        Contender::BridgeNf => bridge(vms, true)?,
        Contender::Flowtable => {
            sh(&format!(
                "nft add flowtable inet {TABLE} ft '{{ hook ingress priority 0; devices = {{ vm1, vm2, {UPLINK} }}; }}' && \
                 nft insert rule inet {TABLE} forward ct state established flow add @ft"
            ))?;
        }
    }
    Ok(Ok(()))
}

/// Whether the kernel has flowtables (`CONFIG_NF_FLOW_TABLE`), tried on a
/// scratch table.
fn probe_flowtable() -> std::result::Result<(), String> {
    let tried = sh("nft add table inet bx_probe && \
         nft add flowtable inet bx_probe ft '{ hook ingress priority 0; devices = { lo }; }'");
    let _ = sh("nft delete table inet bx_probe");
    tried.map(drop).map_err(|e| {
        let said = e.to_string();
        let line = said.lines().find(|l| l.contains("Error")).unwrap_or(&said);
        let first = line.rsplit("failed: ").next().unwrap_or(line);
        format!("this kernel has no nftables flowtables (CONFIG_NF_FLOW_TABLE; nft: {first})")
    })
}

/// Our taps as ports of one bridge holding the subnet: no table, and no
/// address or route of ours left on them.
fn bridge(vms: u32, br_netfilter: bool) -> Result<()> {
    let pool = pool(vms);
    let gateway = pool.hosts().last().context("a pool with hosts")?;
    let mut batch = format!(
        "link add {BRIDGE} type bridge\naddress add {gateway}/{} dev {BRIDGE}\nlink set {BRIDGE} up\n",
        pool.prefix_len()
    );
    for i in 1..=vms {
        writeln!(batch, "address flush dev vm{i}")?;
        writeln!(batch, "link set vm{i} master {BRIDGE}")?;
    }
    sh(&format!(
        "nft delete table inet {TABLE} && ip route flush proto {ROUTE_PROTOCOL} && \
         ip -6 route flush proto {ROUTE_PROTOCOL} && ip -force -batch - <<'EOF'\n{batch}EOF"
    ))?;
    // With br_netfilter in the kernel (built in here, loaded by Docker
    // elsewhere) bridged IP frames detour through its hooks even with no
    // table; a host without it forwards them at L2 only.
    // The br_netfilter contender sets them to 1, its default, explicitly.
    let calls = u8::from(br_netfilter);
    sh(&format!(
        "for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e \"$f\" ] && echo {calls} > \"$f\"; done; true"
    ))?;
    Ok(())
}

/// After the case: the contender is still what was measured.
pub(super) fn check_still_wired(contender: Contender) -> Result<()> {
    let tables = sh("nft list tables")?;
    let ours = tables.contains(&format!("inet {TABLE}"));
    let expected = !matches!(
        contender,
        Contender::Bare | Contender::Bare4096 | Contender::Bridge | Contender::BridgeNf
    );
    ensure!(
        ours == expected,
        "{}: our table {} after the case",
        contender.name(),
        if ours { "present" } else { "missing" }
    );
    Ok(())
}
