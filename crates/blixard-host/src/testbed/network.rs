//! Building the network: the upstream behind a veth, and guests behind
//! stand-in VMMs.

use std::process::Command;

use blixard_addr::Vm;
use blixard_netns::testing::NetnsHolder;
use blixard_tap::relay::Relay;

use super::{HOST_UPLINK_V4, HOST_UPLINK_V6, TestbedError, UPLINK, UPSTREAM_V4, UPSTREAM_V6};

fn sh_here(script: &str) -> Result<String, TestbedError> {
    let out = Command::new("sh").args(["-c", script]).output()?;
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: script.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sh_in(ns: &NetnsHolder, script: &str) -> Result<String, TestbedError> {
    let out = ns.sh(script);
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: script.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The upstream network: a namespace with no route back to the VM pools,
/// reached from the host through a veth that carries the default routes.
pub struct Upstream {
    /// The upstream namespace.
    pub ns: NetnsHolder,
}

impl Upstream {
    /// Builds it, from a thread inside the host namespace.
    pub fn build() -> Result<Self, TestbedError> {
        let ns = NetnsHolder::spawn()?;
        sh_here(&format!(
            "ip link set lo up && ip link add {UPLINK} type veth peer name eth0 && \
             ip link set eth0 netns {pid} && \
             echo 0 > /proc/sys/net/ipv6/conf/{UPLINK}/accept_dad && \
             ip addr add {HOST_UPLINK_V4}/24 dev {UPLINK} && \
             ip -6 addr add {HOST_UPLINK_V6}/64 dev {UPLINK} nodad && \
             ip link set {UPLINK} up && \
             ip route add default via {UPSTREAM_V4} dev {UPLINK} && \
             ip -6 route add default via {UPSTREAM_V6} dev {UPLINK}",
            pid = ns.pid()
        ))?;
        sh_in(
            &ns,
            &format!(
                "echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && \
                 ip link set lo up && ip addr add {UPSTREAM_V4}/24 dev eth0 && \
                 ip -6 addr add {UPSTREAM_V6}/64 dev eth0 nodad && ip link set eth0 up"
            ),
        )?;
        Ok(Self { ns })
    }
}

/// One guest: its namespace and the stand-in VMM relaying its frames.
pub struct Guest {
    /// The VM's mapping.
    pub vm: Vm,
    /// The guest's namespace.
    pub ns: NetnsHolder,
    relay: Relay,
}

impl Guest {
    /// Starts a guest for `vm` behind its (existing) host tap, from a thread
    /// inside the host namespace, and configures it with `guest_script`
    /// (e.g. `blixard_addr::render::ip_commands` joined with `&&`; guests here
    /// share this process's mount namespace, so nothing may write
    /// `/etc/resolv.conf`).
    pub fn start(vm: &Vm, queues: usize, guest_script: &str) -> Result<Self, TestbedError> {
        Self::start_as(vm, queues, None, guest_script)
    }

    /// [`Guest::start`] with the stand-in VMM opening the tap with
    /// `vnet_hdr` as a given VMM would (see [`Relay::start_as`]).
    pub fn start_as(
        vm: &Vm,
        queues: usize,
        vnet_hdr: Option<bool>,
        guest_script: &str,
    ) -> Result<Self, TestbedError> {
        let ns = NetnsHolder::spawn()?;
        let relay = Relay::start_as(&vm.interface, &ns.netns(), "eth0", vm.mac, queues, vnet_hdr)?;
        sh_in(&ns, "ip link set lo up")?;
        sh_in(&ns, guest_script)?;
        Ok(Self {
            vm: vm.clone(),
            ns,
            relay,
        })
    }

    /// The relay, to stop it early.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }
}
