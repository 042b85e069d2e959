//! Guest and VMM configuration for one VM.
//!
//! The guest holds `10.0.0.N/32` (and `fec0::N/128`) and reaches everything
//! through the host's address on its tap, which is outside its own prefix:
//! every guest format therefore routes to the gateway "on link"
//! (`GatewayOnLink=yes`, `on-link: true`, `onlink`). The guest interface is
//! matched by the VM's MAC where the format allows it, and called `eth0`
//! where it does not (the shell script).

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::config::{Config, TapConfig};
use crate::layout::Vm;

/// Guest interface name used by the shell script.
pub const GUEST_INTERFACE: &str = "eth0";

/// What a renderer needs: the VM, its DNS servers and the tap settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNetwork {
    /// The VM's mapping.
    pub vm: Vm,
    /// DNS servers for the guest.
    pub dns: Vec<IpAddr>,
    /// Tap settings (queues, multi-queue).
    pub tap: TapConfig,
    /// Whether the guest gets its IPv6 address.
    pub ipv6: bool,
}

impl GuestNetwork {
    /// The guest network of `vm` under `config`.
    pub fn from_config(vm: Vm, config: &Config) -> Self {
        Self {
            vm,
            dns: config.dns.clone(),
            tap: config.tap.clone(),
            ipv6: config.ipv6.enabled,
        }
    }

    /// IPv4 DNS servers first, then IPv6 ones (left out without IPv6).
    fn dns(&self) -> impl Iterator<Item = &IpAddr> {
        self.dns.iter().filter(|d| self.ipv6 || d.is_ipv4())
    }

    fn multi_queue(&self) -> bool {
        self.tap.queues > 1
    }
}

/// A VMM argument set that cannot work with the tap as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Firecracker opens taps single-queue: it cannot use a multi-queue tap
    /// nor more than one queue pair.
    #[error(
        "firecracker cannot use {interface}: it opens taps single-queue, but the tap has multi_queue={multi_queue} and queues={queues} (set tap.multi_queue = false and tap.queues = 1)"
    )]
    FirecrackerMultiQueue {
        /// The tap.
        interface: String,
        /// Its multi-queue flag.
        multi_queue: bool,
        /// Queue pairs asked for.
        queues: u16,
    },
    /// The VMM opens the tap multi-queue iff it uses more than one queue
    /// pair; a mismatch with the tap's flag makes its `TUNSETIFF` fail.
    #[error(
        "{vmm} would open {interface} with {queues} queue pair(s), which needs multi_queue={}, but the tap has multi_queue={multi_queue}",
        *queues > 1
    )]
    QueueMismatch {
        /// The VMM.
        vmm: &'static str,
        /// The tap.
        interface: String,
        /// Its multi-queue flag.
        multi_queue: bool,
        /// Queue pairs asked for.
        queues: u16,
    },
    /// Zero queue pairs.
    #[error("{interface}: queues must be at least 1")]
    ZeroQueues {
        /// The tap.
        interface: String,
    },
}

fn check_queues(g: &GuestNetwork, vmm: &'static str) -> Result<(), RenderError> {
    if g.tap.queues == 0 {
        return Err(RenderError::ZeroQueues {
            interface: g.vm.interface.clone(),
        });
    }
    if g.multi_queue() != g.tap.multi_queue {
        return Err(RenderError::QueueMismatch {
            vmm,
            interface: g.vm.interface.clone(),
            multi_queue: g.tap.multi_queue,
            queues: g.tap.queues,
        });
    }
    Ok(())
}

/// A systemd-networkd `.network` file for the guest.
pub fn networkd(g: &GuestNetwork) -> String {
    let vm = &g.vm;
    let mut s = format!("[Match]\nMACAddress={}\n\n[Network]\n", vm.mac);
    let _ = writeln!(s, "Address={}", vm.ipv4_net());
    if g.ipv6 {
        let _ = writeln!(s, "Address={}", vm.ipv6_net());
    }
    for d in g.dns() {
        let _ = writeln!(s, "DNS={d}");
    }
    let _ = write!(
        s,
        "\n[Route]\nGateway={}\nGatewayOnLink=yes\n",
        vm.gateway_ipv4
    );
    if g.ipv6 {
        let _ = write!(
            s,
            "\n[Route]\nGateway={}\nGatewayOnLink=yes\n",
            vm.gateway_ipv6
        );
    }
    s
}

/// A NixOS module snippet for a microvm.nix guest: the tap interface and
/// the matching networkd network.
pub fn nixos(g: &GuestNetwork) -> String {
    let vm = &g.vm;
    let mut s = String::from("{\n  microvm.interfaces = [{\n    type = \"tap\";\n");
    let _ = writeln!(s, "    id = \"{}\";", vm.interface);
    let _ = writeln!(s, "    mac = \"{}\";", vm.mac);
    s.push_str("  }];\n\n  systemd.network.enable = true;\n");
    s.push_str("  systemd.network.networks.\"10-blixard\" = {\n");
    let _ = writeln!(s, "    matchConfig.MACAddress = \"{}\";", vm.mac);
    let mut addresses = vec![vm.ipv4_net().to_string()];
    if g.ipv6 {
        addresses.push(vm.ipv6_net().to_string());
    }
    let _ = writeln!(s, "    address = [ {} ];", quoted(&addresses));
    s.push_str("    routes = [\n");
    let _ = writeln!(
        s,
        "      {{ Gateway = \"{}\"; GatewayOnLink = true; }}",
        vm.gateway_ipv4
    );
    if g.ipv6 {
        let _ = writeln!(
            s,
            "      {{ Gateway = \"{}\"; GatewayOnLink = true; }}",
            vm.gateway_ipv6
        );
    }
    s.push_str("    ];\n");
    let dns: Vec<String> = g.dns().map(ToString::to_string).collect();
    let _ = writeln!(s, "    networkConfig.DNS = [ {} ];", quoted(&dns));
    s.push_str("  };\n}\n");
    s
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// cloud-init network-config version 2 (YAML).
pub fn cloud_init(g: &GuestNetwork) -> String {
    let vm = &g.vm;
    // Every address is quoted: an IPv6 gateway such as `fec0::` would
    // otherwise end in a mapping indicator.
    let mut s = String::from("network:\n  version: 2\n  ethernets:\n");
    let _ = writeln!(s, "    {}:", GUEST_INTERFACE);
    let _ = writeln!(s, "      match:\n        macaddress: \"{}\"", vm.mac);
    let _ = writeln!(s, "      set-name: {GUEST_INTERFACE}");
    s.push_str("      addresses:\n");
    let _ = writeln!(s, "        - \"{}\"", vm.ipv4_net());
    if g.ipv6 {
        let _ = writeln!(s, "        - \"{}\"", vm.ipv6_net());
    }
    s.push_str("      routes:\n");
    let _ = writeln!(
        s,
        "        - to: \"0.0.0.0/0\"\n          via: \"{}\"\n          on-link: true",
        vm.gateway_ipv4
    );
    if g.ipv6 {
        let _ = writeln!(
            s,
            "        - to: \"::/0\"\n          via: \"{}\"\n          on-link: true",
            vm.gateway_ipv6
        );
    }
    let dns: Vec<String> = g.dns().map(ToString::to_string).collect();
    if !dns.is_empty() {
        s.push_str("      nameservers:\n        addresses:\n");
        for d in dns {
            let _ = writeln!(s, "          - \"{d}\"");
        }
    }
    s
}

/// The shell commands that configure the guest's interface, one per entry
/// (what [`shell`] runs before writing `/etc/resolv.conf`): iproute2's and
/// busybox's `ip` both take them.
pub fn ip_commands(g: &GuestNetwork) -> Vec<String> {
    let vm = &g.vm;
    let dev = GUEST_INTERFACE;
    let mut cmds = vec![
        format!("ip link set dev {dev} up"),
        format!("ip addr add {} dev {dev}", vm.ipv4_net()),
        format!("ip route add {}/32 dev {dev}", vm.gateway_ipv4),
        format!(
            "ip route add default via {} dev {dev} onlink",
            vm.gateway_ipv4
        ),
    ];
    if g.ipv6 {
        cmds.extend([
            // Instead of `nodad`, which busybox's `ip` does not know: the
            // guest's address must be usable at once, like the host's.
            format!("echo 0 > /proc/sys/net/ipv6/conf/{dev}/accept_dad"),
            format!("ip -6 addr add {} dev {dev}", vm.ipv6_net()),
            format!("ip -6 route add {}/128 dev {dev}", vm.gateway_ipv6),
            format!(
                "ip -6 route add default via {} dev {dev} onlink",
                vm.gateway_ipv6
            ),
        ]);
    }
    cmds
}

/// A POSIX shell script of `ip` commands that configures the guest.
pub fn shell(g: &GuestNetwork) -> String {
    let vm = &g.vm;
    let mut s = format!(
        "#!/bin/sh\n# blixard-net guest network for {} (VM {})\nset -eu\n",
        vm.interface, vm.index
    );
    for cmd in ip_commands(g) {
        let _ = writeln!(s, "{cmd}");
    }
    s.push_str("cat > /etc/resolv.conf <<'EOF'\n");
    for d in g.dns() {
        let _ = writeln!(s, "nameserver {d}");
    }
    s.push_str("EOF\n");
    s
}

/// Firecracker's `network-interfaces` section (JSON).
pub fn firecracker(g: &GuestNetwork) -> Result<String, RenderError> {
    if g.tap.multi_queue || g.tap.queues != 1 {
        return Err(RenderError::FirecrackerMultiQueue {
            interface: g.vm.interface.clone(),
            multi_queue: g.tap.multi_queue,
            queues: g.tap.queues,
        });
    }
    // Written by hand so the key order is fixed whatever serde_json
    // features the workspace turns on.
    let string = |v: &str| serde_json::to_string(v).expect("a string is JSON");
    let out = format!(
        "{{\n  \"network-interfaces\": [\n    {{\n      \"iface_id\": \"net0\",\n      \"host_dev_name\": {},\n      \"guest_mac\": {}\n    }}\n  ]\n}}\n",
        string(&g.vm.interface),
        string(&g.vm.mac.to_string())
    );
    Ok(out)
}

/// cloud-hypervisor arguments: `--net tap=vmN,mac=...[,num_queues=2N]`
/// (`num_queues` counts rx and tx queues, two per pair).
pub fn cloud_hypervisor(g: &GuestNetwork) -> Result<Vec<String>, RenderError> {
    check_queues(g, "cloud-hypervisor")?;
    let mut net = format!("tap={},mac={}", g.vm.interface, g.vm.mac);
    if g.multi_queue() {
        let _ = write!(net, ",num_queues={}", 2 * u32::from(g.tap.queues));
    }
    Ok(vec!["--net".into(), net])
}

/// qemu arguments: a tap netdev opened by name (no helper scripts) and a
/// virtio-net device; `vnet_hdr=off` when the plan's taps have no vnet
/// header; with several queue pairs, `queues=N` and `mq=on,vectors=2N+2`
/// (one vector per queue plus config and control). `vhost=on` only when
/// `vhost` says so: QEMU aborts when it cannot open `/dev/vhost-net`.
pub fn qemu(g: &GuestNetwork, vhost: bool) -> Result<Vec<String>, RenderError> {
    check_queues(g, "qemu")?;
    let mut netdev = format!(
        "tap,id=net0,ifname={},script=no,downscript=no",
        g.vm.interface
    );
    let mut device = format!("virtio-net-pci,netdev=net0,mac={}", g.vm.mac);
    if !g.tap.vnet_hdr {
        netdev.push_str(",vnet_hdr=off");
    }
    if g.multi_queue() {
        let n = u32::from(g.tap.queues);
        let _ = write!(netdev, ",queues={n}");
        let _ = write!(device, ",mq=on,vectors={}", 2 * n + 2);
    }
    if vhost {
        netdev.push_str(",vhost=on");
    }
    Ok(vec!["-netdev".into(), netdev, "-device".into(), device])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn vm3() -> GuestNetwork {
        GuestNetwork::from_config(Layout::default().vm_at(3).unwrap(), &Config::default())
    }

    #[test]
    fn networkd_for_vm3() {
        assert_eq!(
            networkd(&vm3()),
            "[Match]
MACAddress=02:00:00:00:03:01

[Network]
Address=10.0.0.3/32
Address=fec0::3/128
DNS=9.9.9.9
DNS=149.112.112.112
DNS=2620:fe::fe
DNS=2620:fe::9

[Route]
Gateway=10.0.0.0
GatewayOnLink=yes

[Route]
Gateway=fec0::
GatewayOnLink=yes
"
        );
    }

    #[test]
    fn networkd_without_ipv6_has_no_v6() {
        let mut g = vm3();
        g.ipv6 = false;
        let out = networkd(&g);
        assert!(!out.contains("fec0") && !out.contains("2620"), "{out}");
    }

    #[test]
    fn nixos_for_vm3() {
        assert_eq!(
            nixos(&vm3()),
            r#"{
  microvm.interfaces = [{
    type = "tap";
    id = "vm3";
    mac = "02:00:00:00:03:01";
  }];

  systemd.network.enable = true;
  systemd.network.networks."10-blixard" = {
    matchConfig.MACAddress = "02:00:00:00:03:01";
    address = [ "10.0.0.3/32" "fec0::3/128" ];
    routes = [
      { Gateway = "10.0.0.0"; GatewayOnLink = true; }
      { Gateway = "fec0::"; GatewayOnLink = true; }
    ];
    networkConfig.DNS = [ "9.9.9.9" "149.112.112.112" "2620:fe::fe" "2620:fe::9" ];
  };
}
"#
        );
    }

    #[test]
    fn cloud_init_for_vm3() {
        assert_eq!(
            cloud_init(&vm3()),
            r#"network:
  version: 2
  ethernets:
    eth0:
      match:
        macaddress: "02:00:00:00:03:01"
      set-name: eth0
      addresses:
        - "10.0.0.3/32"
        - "fec0::3/128"
      routes:
        - to: "0.0.0.0/0"
          via: "10.0.0.0"
          on-link: true
        - to: "::/0"
          via: "fec0::"
          on-link: true
      nameservers:
        addresses:
          - "9.9.9.9"
          - "149.112.112.112"
          - "2620:fe::fe"
          - "2620:fe::9"
"#
        );
    }

    #[test]
    fn shell_for_vm3() {
        assert_eq!(
            shell(&vm3()),
            "#!/bin/sh
# blixard-net guest network for vm3 (VM 3)
set -eu
ip link set dev eth0 up
ip addr add 10.0.0.3/32 dev eth0
ip route add 10.0.0.0/32 dev eth0
ip route add default via 10.0.0.0 dev eth0 onlink
echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
ip -6 addr add fec0::3/128 dev eth0
ip -6 route add fec0::/128 dev eth0
ip -6 route add default via fec0:: dev eth0 onlink
cat > /etc/resolv.conf <<'EOF'
nameserver 9.9.9.9
nameserver 149.112.112.112
nameserver 2620:fe::fe
nameserver 2620:fe::9
EOF
"
        );
    }

    #[test]
    fn firecracker_for_vm3() {
        assert_eq!(
            firecracker(&vm3()).unwrap(),
            r#"{
  "network-interfaces": [
    {
      "iface_id": "net0",
      "host_dev_name": "vm3",
      "guest_mac": "02:00:00:00:03:01"
    }
  ]
}
"#
        );
    }

    #[test]
    fn firecracker_refuses_multi_queue() {
        let mut g = vm3();
        g.tap.multi_queue = true;
        g.tap.queues = 2;
        assert_eq!(
            firecracker(&g),
            Err(RenderError::FirecrackerMultiQueue {
                interface: "vm3".into(),
                multi_queue: true,
                queues: 2
            })
        );
        g.tap.queues = 1;
        assert!(
            firecracker(&g).is_err(),
            "a multi-queue tap alone is refused"
        );
    }

    /// Firecracker's API (`PUT /network-interfaces/{iface_id}`, swagger
    /// `NetworkInterface`) requires `iface_id` and `host_dev_name`, takes an
    /// optional `guest_mac`, and its `--config-file` holds the same objects
    /// under `network-interfaces`: each rendered object is a valid PUT body.
    /// Firecracker is not packaged here, so this is checked against its
    /// documented API, not a running firecracker.
    #[test]
    fn firecracker_objects_are_put_network_interface_bodies() {
        let doc: serde_json::Value = serde_json::from_str(&firecracker(&vm3()).unwrap()).unwrap();
        let [body] = doc["network-interfaces"].as_array().unwrap().as_slice() else {
            panic!("one interface: {doc}")
        };
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["guest_mac", "host_dev_name", "iface_id"]);
        assert_eq!(body["host_dev_name"], "vm3");
    }

    /// cloud-hypervisor's `--net` takes `tap=<if>,mac=<mac>,num_queues=<n>`
    /// where `num_queues` counts rx and tx queues (its docs: two per pair);
    /// not packaged here either, so checked against its documented syntax.
    #[test]
    fn cloud_hypervisor_for_vm3() {
        assert_eq!(
            cloud_hypervisor(&vm3()).unwrap(),
            ["--net", "tap=vm3,mac=02:00:00:00:03:01"]
        );
        let mut g = vm3();
        g.tap.multi_queue = true;
        g.tap.queues = 2;
        assert_eq!(
            cloud_hypervisor(&g).unwrap(),
            ["--net", "tap=vm3,mac=02:00:00:00:03:01,num_queues=4"]
        );
    }

    #[test]
    fn qemu_for_vm3() {
        assert_eq!(
            qemu(&vm3(), false).unwrap(),
            [
                "-netdev",
                "tap,id=net0,ifname=vm3,script=no,downscript=no",
                "-device",
                "virtio-net-pci,netdev=net0,mac=02:00:00:00:03:01"
            ]
        );
        let mut g = vm3();
        g.tap.multi_queue = true;
        g.tap.queues = 4;
        assert_eq!(
            qemu(&g, false).unwrap(),
            [
                "-netdev",
                "tap,id=net0,ifname=vm3,script=no,downscript=no,queues=4",
                "-device",
                "virtio-net-pci,netdev=net0,mac=02:00:00:00:03:01,mq=on,vectors=10"
            ]
        );
        g.tap.vnet_hdr = false;
        assert_eq!(
            qemu(&g, true).unwrap()[1],
            "tap,id=net0,ifname=vm3,script=no,downscript=no,vnet_hdr=off,queues=4,vhost=on"
        );
    }

    #[test]
    fn queue_mismatch_is_refused() {
        let mut g = vm3();
        g.tap.multi_queue = true;
        let e = qemu(&g, false).unwrap_err();
        assert!(
            matches!(e, RenderError::QueueMismatch { vmm: "qemu", .. }),
            "{e}"
        );
        g.tap.multi_queue = false;
        g.tap.queues = 2;
        assert!(cloud_hypervisor(&g).is_err());
    }
}
