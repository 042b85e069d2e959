//! Guest network configuration: systemd-networkd, NixOS, cloud-init and a
//! shell script of `ip` commands.
//!
//! The guest holds `10.0.0.N/32` (and `fec0::N/128`) and reaches everything
//! through the host's address on its tap, which is outside its own prefix:
//! every guest format therefore routes to the gateway "on link"
//! (`GatewayOnLink=yes`, `on-link: true`, `onlink`). The guest interface is
//! matched by the VM's MAC where the format allows it, and called `eth0`
//! where it does not (the shell script).

use std::fmt::Write as _;

use super::GuestNetwork;
use super::quote::nix_strings;

/// Guest interface name used by the shell script.
pub const GUEST_INTERFACE: &str = "eth0";

/// A systemd-networkd `.network` file for the guest.
pub fn networkd(g: &GuestNetwork) -> String {
    let vm = &g.vm;
    let mut s = format!("[Match]\nMACAddress={}\n\n[Network]\n", vm.mac);
    let _ = writeln!(s, "Address={}", vm.ipv4_net());
    if g.ipv6 {
        let _ = writeln!(s, "Address={}", vm.ipv6_net());
    }
    for d in &g.dns {
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
    let _ = writeln!(s, "    address = [ {} ];", nix_strings(&addresses));
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
    let dns: Vec<String> = g.dns.iter().map(ToString::to_string).collect();
    let _ = writeln!(s, "    networkConfig.DNS = [ {} ];", nix_strings(&dns));
    s.push_str("  };\n}\n");
    s
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
    let dns: Vec<String> = g.dns.iter().map(ToString::to_string).collect();
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
    for d in &g.dns {
        let _ = writeln!(s, "nameserver {d}");
    }
    s.push_str("EOF\n");
    s
}
