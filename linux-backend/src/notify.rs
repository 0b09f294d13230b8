//! Telling the service manager how the switch is doing: the sd_notify
//! protocol of systemd (`Type=notify` units). The manager puts the path of a
//! datagram socket in `$NOTIFY_SOCKET` (a leading `@` names an abstract
//! socket); each message is one datagram of `KEY=value` lines: `READY=1` once
//! the switch serves, `STATUS=...` for `systemctl status`, `RELOADING=1`
//! and `READY=1` around a reload, `STOPPING=1` on the way out.
//!
//! ```no_run
//! vswitch_linux::notify::send("READY=1\nSTATUS=4 ports")?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The variable the service manager sets.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` to the service manager; `Ok(false)` if there is none (not
/// started by one, or `Type=` is not `notify`).
pub fn send(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET) else {
        return Ok(false);
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None if path.starts_with('/') => SocketAddr::from_pathname(&path)?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{NOTIFY_SOCKET}={path} is neither a path nor an abstract socket (@name)"),
            ))
        }
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(true)
}

#[cfg(test)]
mod test {
    use super::*;

    /// One test changes the environment: the others read it.
    #[test]
    fn messages_reach_the_socket_the_manager_names() {
        let dir = std::env::temp_dir().join(format!("vswitch-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let manager = UnixDatagram::bind(&path).unwrap();
        std::env::set_var(NOTIFY_SOCKET, &path);
        assert!(send("READY=1\nSTATUS=2 ports").unwrap());
        let mut buf = [0u8; 256];
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=2 ports");

        let name = format!("vswitch-notify-test-{}", std::process::id());
        let abstract_addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let manager = UnixDatagram::bind_addr(&abstract_addr).unwrap();
        std::env::set_var(NOTIFY_SOCKET, format!("@{name}"));
        assert!(send("STOPPING=1").unwrap());
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");

        std::env::set_var(NOTIFY_SOCKET, "relative/path");
        assert!(send("READY=1").is_err());
        std::env::remove_var(NOTIFY_SOCKET);
        assert!(!send("READY=1").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
