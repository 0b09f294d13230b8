//! A small OVSDB client (RFC 7047): JSON-RPC 1.0 over a unix or TCP stream,
//! blocking, for one thread.
//!
//! # Why not a crate
//!
//! The two Rust OVSDB crates on crates.io were looked at first:
//! - `ovsdb-client` 0.0.1 (March 2025): async only, on tokio and jsonrpsee,
//!   about 270 lines of which a tenth is documented; monitor and transact are
//!   thin wrappers that leave the OVSDB data encoding (`["set",...]`,
//!   `["uuid",...]`, `["map",...]`) to the caller anyway.
//! - `ovsdb` 0.0.6 (February 2024): "heavily WIP", async on tokio, with
//!   models generated at build time by `ovsdb-build` from a schema file.
//!
//! vswitch has no async runtime: the forwarding loop is one epoll thread and
//! its helpers (the control thread, the VTEP thread of [`crate::vtep`]) are
//! plain threads. Either crate would bring a tokio runtime (and jsonrpsee or
//! a code generator) into the switch for three RPC methods. What the VTEP
//! needs is `monitor`, `transact`, answering `echo` and reading `update`
//! notifications, which is this module: a blocking client on `serde_json`,
//! with read timeouts so that its thread can also poll the switch.
//!
//! Messages are JSON values one after the other on the stream, with no
//! separator required (RFC 7047 section 4); they are cut out of the received
//! bytes by parsing, so a value split over several reads is put together.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where an OVSDB server listens: `unix:PATH` or `tcp:IP:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    /// A unix socket.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl Remote {
    /// Parses `unix:PATH` or `tcp:IP:PORT` (an IPv6 address in brackets).
    pub fn parse(s: &str) -> Result<Remote, String> {
        let allowed = "allowed: unix:PATH or tcp:IP:PORT";
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(format!("\"{s}\": no socket path ({allowed})"));
            }
            return Ok(Remote::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            return addr
                .parse()
                .map(Remote::Tcp)
                .map_err(|_| format!("\"{s}\": not IP:PORT ({allowed})"));
        }
        Err(format!("\"{s}\": unknown OVSDB remote ({allowed})"))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// A connected stream of either kind.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What went wrong talking to the server.
#[derive(Debug)]
pub enum OvsdbError {
    /// The connection failed or closed.
    Io(io::Error),
    /// The server sent something that is not JSON-RPC.
    Protocol(String),
    /// The server answered a request with an error.
    Rpc(String),
    /// No answer in time.
    Timeout,
}

impl fmt::Display for OvsdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvsdbError::Io(e) => write!(f, "{e}"),
            OvsdbError::Protocol(m) => write!(f, "protocol error: {m}"),
            OvsdbError::Rpc(m) => write!(f, "server error: {m}"),
            OvsdbError::Timeout => write!(f, "no answer in time"),
        }
    }
}

impl std::error::Error for OvsdbError {}

impl From<io::Error> for OvsdbError {
    fn from(e: io::Error) -> OvsdbError {
        OvsdbError::Io(e)
    }
}

/// A notification from the server (a request of it other than `echo`,
/// which the client answers itself).
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The method, `update` for a monitor.
    pub method: String,
    /// Its parameters.
    pub params: Value,
}

/// Cuts the complete JSON values off the front of `buf`, leaving a partial
/// one. A value that cannot be JSON is an error.
pub fn split_messages(buf: &mut Vec<u8>) -> Result<Vec<Value>, OvsdbError> {
    let mut out = Vec::new();
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    let mut used = 0;
    loop {
        match it.next() {
            Some(Ok(v)) => {
                used = it.byte_offset();
                out.push(v);
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(e)) => return Err(OvsdbError::Protocol(e.to_string())),
            None => {
                used = it.byte_offset();
                break;
            }
        }
    }
    buf.drain(..used);
    Ok(out)
}

/// A connection to an OVSDB server.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
    next_id: u64,
    /// Notifications received while waiting for an answer.
    pending: VecDeque<Notification>,
    /// When the server last sent anything.
    last_rx: Instant,
}

impl Client {
    /// Connects to `remote`, giving up after `timeout` (TCP).
    pub fn connect(remote: &Remote, timeout: Duration) -> Result<Client, OvsdbError> {
        let stream = match remote {
            Remote::Unix(p) => Stream::Unix(UnixStream::connect(p)?),
            Remote::Tcp(a) => {
                let s = TcpStream::connect_timeout(a, timeout)?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        };
        Ok(Client {
            stream,
            buf: Vec::new(),
            next_id: 1,
            pending: VecDeque::new(),
            last_rx: Instant::now(),
        })
    }

    fn send(&mut self, msg: &Value) -> Result<(), OvsdbError> {
        let bytes = serde_json::to_vec(msg).map_err(|e| OvsdbError::Protocol(e.to_string()))?;
        self.stream.write_all(&bytes)?;
        Ok(())
    }

    /// Reads what has arrived within `timeout` and hands each message to
    /// `on`; answers `echo` requests. `Ok(false)`: nothing arrived.
    fn read_some(
        &mut self,
        timeout: Duration,
        on: &mut dyn FnMut(&mut Client, Value),
    ) -> Result<bool, OvsdbError> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut chunk = [0u8; 65536];
        let n = match self.stream.read(&mut chunk) {
            Ok(0) => {
                return Err(OvsdbError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )))
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        self.last_rx = Instant::now();
        self.buf.extend_from_slice(&chunk[..n]);
        for msg in split_messages(&mut self.buf)? {
            if msg.get("method").and_then(Value::as_str) == Some("echo") {
                let reply = json!({"id": msg["id"], "result": msg["params"], "error": null});
                self.send(&reply)?;
                continue;
            }
            on(self, msg);
        }
        Ok(true)
    }

    /// Sends request `method` and waits up to `timeout` for its answer,
    /// keeping notifications for [`Client::poll`].
    pub fn call(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, OvsdbError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"method": method, "params": params, "id": id}))?;
        let deadline = Instant::now() + timeout;
        let mut answer: Option<Result<Value, OvsdbError>> = None;
        while answer.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(OvsdbError::Timeout);
            }
            self.read_some(left, &mut |c, msg| {
                if let Some(m) = msg.get("method").and_then(Value::as_str) {
                    c.pending.push_back(Notification {
                        method: m.to_string(),
                        params: msg.get("params").cloned().unwrap_or(Value::Null),
                    });
                } else if msg.get("id").and_then(Value::as_u64) == Some(id) {
                    answer = Some(match msg.get("error") {
                        Some(e) if !e.is_null() => Err(OvsdbError::Rpc(e.to_string())),
                        _ => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                    });
                }
                // Answers to other (abandoned) requests are dropped.
            })?;
        }
        answer.unwrap_or(Err(OvsdbError::Timeout))
    }

    /// The next notification, waiting up to `timeout`; `Ok(None)`: none came.
    pub fn poll(&mut self, timeout: Duration) -> Result<Option<Notification>, OvsdbError> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(Some(n));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self.read_some(left, &mut |c, msg| {
                if let Some(m) = msg.get("method").and_then(Value::as_str) {
                    c.pending.push_back(Notification {
                        method: m.to_string(),
                        params: msg.get("params").cloned().unwrap_or(Value::Null),
                    });
                }
            })?;
            if let Some(n) = self.pending.pop_front() {
                return Ok(Some(n));
            }
            if !got || Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// How long the server has been silent.
    pub fn idle(&self) -> Duration {
        self.last_rx.elapsed()
    }

    /// Checks that the server still answers (an `echo` of its own), when it
    /// has been silent for `after`: a server gone without closing the
    /// connection (a TCP peer that crashed) is found out.
    pub fn probe(&mut self, after: Duration, timeout: Duration) -> Result<(), OvsdbError> {
        if self.idle() >= after {
            self.call("echo", json!([]), timeout)?;
        }
        Ok(())
    }

    /// `transact` on `db`: the operations' results, or the first error
    /// among them.
    pub fn transact(
        &mut self,
        db: &str,
        ops: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, OvsdbError> {
        let mut params = vec![Value::from(db)];
        params.extend(ops);
        let result = self.call("transact", Value::Array(params), timeout)?;
        let results = result
            .as_array()
            .cloned()
            .ok_or_else(|| OvsdbError::Protocol(format!("transact answered {result}")))?;
        if let Some(err) = results
            .iter()
            .find(|r| r.get("error").is_some_and(|e| !e.is_null()))
        {
            return Err(OvsdbError::Rpc(err.to_string()));
        }
        Ok(results)
    }
}

/// An OVSDB atom or set of atoms, as a list (RFC 7047 5.1: a set of one
/// may be sent as the bare atom).
pub fn set_items(v: &Value) -> Vec<&Value> {
    match v.as_array() {
        Some(a) if a.len() == 2 && a[0] == "set" => a[1]
            .as_array()
            .map(|s| s.iter().collect())
            .unwrap_or_default(),
        _ => vec![v],
    }
}

/// The UUID of `["uuid", "..."]`.
pub fn uuid(v: &Value) -> Option<&str> {
    match v.as_array() {
        Some(a) if a.len() == 2 && a[0] == "uuid" => a[1].as_str(),
        _ => None,
    }
}

/// The pairs of `["map", [[k, v], ...]]`.
pub fn map_pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v.as_array() {
        Some(a) if a.len() == 2 && a[0] == "map" => a[1]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|p| match p.as_array() {
                        Some(kv) if kv.len() == 2 => Some((&kv[0], &kv[1])),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// `["uuid", u]`.
pub fn uuid_value(u: &str) -> Value {
    json!(["uuid", u])
}

/// `["set", [...]]`.
pub fn set_value(items: Vec<Value>) -> Value {
    json!(["set", items])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!(
            Remote::parse("unix:/run/x.sock"),
            Ok(Remote::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            Remote::parse("tcp:10.0.0.1:6640"),
            Ok(Remote::Tcp("10.0.0.1:6640".parse().unwrap()))
        );
        for bad in ["ssl:1.2.3.4:6640", "unix:", "tcp:10.0.0.1", "x"] {
            let e = Remote::parse(bad).unwrap_err();
            assert!(e.contains("allowed"), "{e}");
        }
    }

    #[test]
    fn messages_are_cut_out_of_a_stream_split_anywhere() {
        let stream = br#"{"id":1,"result":{}} {"method":"update","params":[null,{}],"id":null}{"id":2,"result":[1,2]}"#;
        for cut in 0..stream.len() {
            let mut buf = stream[..cut].to_vec();
            let mut got = split_messages(&mut buf).unwrap();
            buf.extend_from_slice(&stream[cut..]);
            got.extend(split_messages(&mut buf).unwrap());
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got[2]["result"], json!([1, 2]));
            assert!(buf.iter().all(u8::is_ascii_whitespace));
        }
    }

    /// A server on a unix socket that runs `script` on its end.
    fn server(
        script: impl FnOnce(&mut UnixStream) + Send + 'static,
    ) -> (Remote, std::thread::JoinHandle<()>) {
        let path = std::env::temp_dir().join(format!(
            "vswitch-ovsdb-test-{}-{:?}.sock",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let remote = Remote::Unix(path.clone());
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = std::fs::remove_file(&path);
            script(&mut s);
        });
        (remote, t)
    }

    fn read_value(s: &mut UnixStream, buf: &mut Vec<u8>) -> Value {
        loop {
            if let Some(v) = split_messages(buf).unwrap().into_iter().next() {
                return v;
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "client closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[test]
    fn echo_is_answered_and_notifications_wait_for_poll() {
        let (remote, t) = server(|s| {
            let mut buf = Vec::new();
            let req = read_value(s, &mut buf);
            assert_eq!(req["method"], "monitor");
            // Before the answer: an echo request and an update, the answer in
            // two writes.
            s.write_all(br#"{"method":"echo","params":["x"],"id":"e1"}"#)
                .unwrap();
            s.write_all(br#"{"method":"update","params":[null,{"T":{}}],"id":null}"#)
                .unwrap();
            let answer = format!(
                r#"{{"id":{},"result":{{"T":{{}}}},"error":null}}"#,
                req["id"]
            );
            let (a, b) = answer.split_at(7);
            s.write_all(a.as_bytes()).unwrap();
            s.write_all(b.as_bytes()).unwrap();
            let echo = read_value(s, &mut buf);
            assert_eq!(echo, json!({"id": "e1", "result": ["x"], "error": null}));
            let req = read_value(s, &mut buf);
            let err = format!(
                r#"{{"id":{},"result":null,"error":"unknown method"}}"#,
                req["id"]
            );
            s.write_all(err.as_bytes()).unwrap();
        });
        let mut c = Client::connect(&remote, Duration::from_secs(5)).unwrap();
        let r = c
            .call("monitor", json!(["db", null, {}]), Duration::from_secs(5))
            .unwrap();
        assert_eq!(r, json!({"T": {}}));
        let n = c.poll(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(n.method, "update");
        assert_eq!(c.poll(Duration::from_millis(1)).unwrap(), None);
        let e = c
            .call("nope", json!([]), Duration::from_secs(5))
            .unwrap_err();
        assert!(
            matches!(e, OvsdbError::Rpc(ref m) if m.contains("unknown method")),
            "{e}"
        );
        t.join().unwrap();
        // The server is gone: an error, not a hang.
        assert!(c.poll(Duration::from_secs(5)).is_err());
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut buf = b"{\"id\":1} }{".to_vec();
        assert!(matches!(
            split_messages(&mut buf),
            Err(OvsdbError::Protocol(_))
        ));
    }

    #[test]
    fn sets_uuids_and_maps_decode() {
        let one = json!(["uuid", "a"]);
        assert_eq!(set_items(&one), vec![&one]);
        let s = json!(["set", [["uuid", "a"], ["uuid", "b"]]]);
        let uuids: Vec<_> = set_items(&s).into_iter().filter_map(uuid).collect();
        assert_eq!(uuids, ["a", "b"]);
        assert!(set_items(&json!(["set", []])).is_empty());
        let m = json!(["map", [[0, ["uuid", "ls"]], [7]]]);
        let pairs = map_pairs(&m);
        assert_eq!(pairs.len(), 1, "a pair of one element is skipped");
        assert_eq!(uuid(pairs[0].1), Some("ls"));
        assert!(map_pairs(&json!("x")).is_empty());
        assert_eq!(uuid(&json!(["named-uuid", "x"])), None);
    }
}
