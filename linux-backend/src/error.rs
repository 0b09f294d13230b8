//! Errors a person can act on.

use std::io;

/// What went wrong, in words that say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such interface.
    #[error("interface \"{0}\" does not exist")]
    NoSuchInterface(String),
    /// The interface is already a port of this switch.
    #[error("interface \"{0}\" is already attached")]
    AlreadyAttached(String),
    /// The interface cannot be a port: the loopback, a bridge, another
    /// switch's port, ...
    #[error("interface \"{iface}\" cannot be a port: {why}")]
    NotAPort {
        /// The interface.
        iface: String,
        /// Why not, and what to do instead.
        why: String,
    },
    /// The interface is not a port of this switch.
    #[error("interface \"{0}\" is not attached")]
    NotAttached(String),
    /// No switch answers on the control socket.
    #[error("no switch named \"{0}\" is running")]
    NoSuchSwitch(String),
    /// A switch of that name is already running.
    #[error("socket {0} is in use: a switch with this name is already running (pick another with --name)")]
    SocketInUse(String),
    /// Not root.
    #[error("permission denied: {0} (run as root)")]
    PermissionDenied(String),
    /// A network namespace that does not exist.
    #[error("network namespace \"{0}\" does not exist")]
    NoSuchNamespace(String),
    /// A process that does not exist.
    #[error("process {0} does not exist")]
    NoSuchProcess(u32),
    /// An interface that is not one end of a veth pair.
    #[error("interface \"{0}\" has no peer in another namespace (is it a veth?)")]
    NoPeer(String),
    /// A port specification that cannot be parsed.
    #[error("bad port \"{0}\": expected IFACE, netns:NAME/IFACE, pid:PID/IFACE or tap:NAME")]
    BadPortSpec(String),
    /// A bad configuration file or option.
    #[error("configuration: {0}")]
    Config(String),
    /// The switch refused or failed a request.
    #[error("{0}")]
    Remote(String),
    /// A control protocol mismatch.
    #[error("control protocol: {0}")]
    Protocol(String),
    /// An external command failed.
    #[error("{0}")]
    Command(String),
    /// Any other system error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done, mapping the common causes
    /// to their own variants.
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        let what = what.into();
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied(what),
            _ => Error::Io { what, source },
        }
    }

    /// Wraps an error about interface `name`: ENODEV/ENXIO become
    /// [`Error::NoSuchInterface`].
    pub fn iface(name: &str, what: &str, source: io::Error) -> Error {
        match source.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::ENXIO) => Error::NoSuchInterface(name.to_string()),
            _ => Error::io(format!("{what} \"{name}\""), source),
        }
    }
}
