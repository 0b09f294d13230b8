//! vswitch-linux: the vswitch core forwarding real frames between real
//! interfaces.
//!
//! - [`port`]: what the ports share: [`port::LinuxPort`], a core
//!   [`vswitch_core::Port`] whose per-frame metadata is the offload state;
//! - [`afpacket`], [`tap`]: AF_PACKET sockets and TAP devices as ports;
//! - [`vnet`]: the virtio-net header that carries a frame's offload state;
//! - [`gso`]: checksum completion and GSO segmentation in software;
//! - [`gro`]: joining TCP segments into GSO super-frames on the way out;
//! - [`ring`], [`ring_v3`]: the memory-mapped receive rings of a packet socket;
//! - [`xdp`]: AF_XDP ports, a second kind of port on an interface;
//! - [`switch`]: the running switch, one epoll loop over ports, the aging timer,
//!   link events ([`link`]), signals and the control requests (in files of
//!   their own: the data path, link events, the requests);
//! - [`control_server`]: the control thread, which owns the control socket and
//!   its connections, so that answers are never made on the forwarding path;
//! - [`control`]: the control protocol and its client;
//! - [`config`]: the configuration file of `vswitch run --config`;
//! - [`claim`]: which interfaces may be ports, and one switch per interface;
//! - [`target`]: `IFACE`, `netns:NS/IFACE`, `pid:PID/IFACE` and `tap:NAME`;
//! - [`capture`]: pcap output of what a switch sends out of a port;
//! - [`trace`]: one line per frame;
//! - [`lab`]: namespaces and veths to test with;
//! - [`notify`]: readiness and status for the service manager (sd_notify);
//! - [`ovsdb`], [`vtep`]: an OVSDB client, and the switch as a hardware VTEP
//!   of a control plane such as OVN;
//! - [`hugepage`]: a global allocator that puts large tables on huge pages.
//!
//! Unsafe code lives in four modules, each block small and saying why it is
//! sound: [`sys`] (the system calls), [`ring`] and [`ring_v3`] (the mapped
//! receive rings), [`xdp`] (the AF_XDP rings and its own bpf(2) calls) and
//! [`hugepage`] (the allocator). The rest of the crate denies it.
//!
//! ```no_run
//! use vswitch_linux::switch::{LinuxSwitch, RunOptions};
//! let mut sw = LinuxSwitch::new(RunOptions {
//!     name: "vswitch".into(),
//!     ports: vec!["veth1-vsw".into(), "veth2-vsw".into()],
//!     ..RunOptions::default()
//! })?;
//! sw.run()?; // until SIGINT or SIGTERM
//! # Ok::<(), vswitch_linux::Error>(())
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod afpacket;
pub mod capture;
pub mod claim;
pub mod config;
pub mod control;
pub mod control_server;
pub mod error;
pub mod gro;
pub mod gso;
#[allow(unsafe_code)]
pub mod hugepage;
pub mod lab;
pub mod link;
pub mod metrics;
pub mod notify;
pub mod ovsdb;
pub mod port;
#[allow(unsafe_code)]
pub mod ring;
#[allow(unsafe_code)]
pub mod ring_v3;
pub mod switch;
#[allow(unsafe_code)]
pub mod sys;
pub mod tap;
pub mod target;
pub mod trace;
pub mod vnet;
pub mod vtep;
pub mod vxlan;
#[allow(unsafe_code)]
pub mod xdp;

pub use error::{Error, Result};
