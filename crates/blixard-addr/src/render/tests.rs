//! Unit tests of every guest format and VMM argument set, for VM 3 of the
//! default config.

use super::*;
use crate::config::Config;
use crate::planner::{HostFacts, build_plan};

fn plan_of(config: &Config) -> HostPlan {
    build_plan(config, &HostFacts::default()).unwrap()
}

fn vm3() -> GuestNetwork {
    let plan = plan_of(&Config::default());
    GuestNetwork::new(&plan, plan.layout.vm_at(3).unwrap())
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
    let mut config = Config::default();
    config.ipv6.enabled = false;
    let plan = plan_of(&config);
    let out = networkd(&GuestNetwork::new(&plan, plan.layout.vm_at(3).unwrap()));
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
    g.queues = 2;
    assert_eq!(
        firecracker(&g),
        Err(RenderError::FirecrackerMultiQueue {
            interface: "vm3".into(),
            multi_queue: true,
            queues: 2
        })
    );
    g.queues = 1;
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
    g.queues = 2;
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
    g.queues = 4;
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
    g.queues = 2;
    assert!(cloud_hypervisor(&g).is_err());
}
