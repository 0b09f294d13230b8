//! Which interfaces may become ports, and one switch per interface.
//!
//! [`check`] refuses what the Linux bridge refuses (`ip link set IFACE master
//! BR`): the loopback device, a device that is not Ethernet, a bridge device,
//! and an interface that has a master other than a Linux bridge (a bond's or a
//! team's slave, a port of Open vSwitch's kernel datapath). A port of a Linux
//! bridge is moved, as `ip link set` moves it ([`crate::target::resolve`]).
//! [`Claim`] keeps two running switches off the same interface: each port
//! holds an exclusive lock on
//! `/run/vswitch/ports/NETNS-IFINDEX` for as long as it is attached, and the
//! lock goes with the process however it ends.

use crate::control::SOCKET_DIR;
use crate::error::{Error, Result};
use crate::sys;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// ARPHRD_ETHER, the `type` of an Ethernet device in sysfs.
const ARPHRD_ETHER: u32 = 1;

/// Refuses an interface that cannot be a port, with the reason.
pub fn check(iface: &str) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::NotAPort {
            iface: iface.to_string(),
            why,
        })
    };
    let flags = sys::if_flags(iface).map_err(|e| Error::iface(iface, "reading the flags of", e))?;
    if flags & libc::IFF_LOOPBACK as u32 != 0 {
        return refuse("it is the loopback device (the Linux bridge refuses it too)".into());
    }
    let sysfs = Path::new("/sys/class/net").join(iface);
    // sysfs shows the namespace it was mounted in: where it does not know the
    // interface, these checks cannot be made, and the kernel's own errors
    // remain.
    if !sysfs.exists() {
        return Ok(());
    }
    if let Some(kind) = std::fs::read_to_string(sysfs.join("type"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .filter(|&t| t != ARPHRD_ETHER)
    {
        return refuse(format!(
            "it is not an Ethernet device (link type {kind}; see /usr/include/linux/if_arp.h)"
        ));
    }
    if sysfs.join("bridge").exists() {
        return refuse(
            "it is a Linux bridge; a bridge cannot be a port (as with `ip link set BR master BR2`): \
             attach the bridge's own ports' peers instead, or link the two with a veth pair"
                .into(),
        );
    }
    if let Ok(master) = std::fs::read_link(sysfs.join("master")) {
        let master = master
            .file_name()
            .map(|m| m.to_string_lossy().into_owned())
            .unwrap_or_default();
        return refuse(format!(
            "it is enslaved to \"{master}\" (a bond, team or datapath, not a bridge); detach it first with `ip link set {iface} nomaster`"
        ));
    }
    Ok(())
}

/// An interface held as a port of this switch; released, and its lock file
/// removed, when dropped.
#[derive(Debug)]
pub struct Claim {
    /// Holds the lock; closing it lets go.
    _file: File,
    path: PathBuf,
}

impl Claim {
    /// Claims interface `iface` (index `ifindex` in this namespace) for
    /// switch `switch`, or names the running switch that has it.
    pub fn take(iface: &str, ifindex: u32, switch: &str) -> Result<Claim> {
        let dir = Path::new(SOCKET_DIR).join("ports");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let path = claim_path(&dir, ifindex);
        // A holder that lets go removes the file: a lock taken on a file no
        // longer at the path is no claim, so look again (a few times at most:
        // each turn means another switch let go in between).
        for _ in 0..8 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            if let Err(e) = sys::try_lock_exclusive(file.as_raw_fd()) {
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    return Err(Error::io(format!("locking {}", path.display()), e));
                }
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::NotAPort {
                    iface: iface.to_string(),
                    why: if holder.is_empty() {
                        "another running switch has it as a port".into()
                    } else {
                        format!("it is a port of the running {holder}")
                    },
                });
            }
            let held = file.metadata().map(|m| m.ino()).ok();
            let at_path = std::fs::metadata(&path).map(|m| m.ino()).ok();
            if held.is_none() || held != at_path {
                continue;
            }
            let holder = format!("switch \"{switch}\" (pid {})\n", std::process::id());
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = file.write_all(holder.as_bytes());
            return Ok(Claim { _file: file, path });
        }
        Err(Error::NotAPort {
            iface: iface.to_string(),
            why: "other switches take and release it again and again; try again".into(),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Removed while still locked, so that no one takes this file meanwhile;
        // the lock goes when the file closes after this.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file of interface `ifindex` of this network namespace.
fn claim_path(dir: &Path, ifindex: u32) -> PathBuf {
    let netns = std::fs::metadata("/proc/self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0);
    dir.join(format!("{netns}-{ifindex}"))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn loopback_is_refused() {
        match check("lo") {
            Err(e @ Error::NotAPort { .. }) => {
                assert!(e.to_string().contains("loopback"), "{e}")
            }
            other => panic!("lo accepted: {other:?}"),
        }
    }

    #[test]
    fn an_interface_is_held_by_one_switch_at_a_time() {
        if !sys::is_root() {
            return; // /run/vswitch is root's
        }
        // An index no interface has: only the lock file is touched.
        let index = u32::MAX - std::process::id();
        let first = Claim::take("vswtest0", index, "first").expect("first claim");
        let e = Claim::take("vswtest0", index, "second").expect_err("claimed twice");
        let msg = e.to_string();
        assert!(msg.contains("switch \"first\""), "{msg}");
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        let path = claim_path(&Path::new(SOCKET_DIR).join("ports"), index);
        drop(first);
        assert!(!path.exists(), "the lock file outlived its claim");
        let second = Claim::take("vswtest0", index, "second").expect("released on drop");
        assert!(path.exists());
        drop(second);
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_interface_is_named() {
        match check("vsw-no-such0") {
            Err(Error::NoSuchInterface(n)) => assert_eq!(n, "vsw-no-such0"),
            other => panic!("{other:?}"),
        }
    }
}
