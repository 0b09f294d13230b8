//! Malformed control requests: unknown commands, wrong types, cut-off and
//! oversize lines. The decoder refuses each with a message a person can act on,
//! the switch's reply to it is one JSON line a client reads back, and a running
//! switch answers with an error and goes on answering.
//!
//! The running-switch test needs root (it binds /run/vswitch/NAME.sock); it is
//! skipped otherwise.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use vswitch_linux::control::{parse_request, Request, Response, VERSION};
use vswitch_linux::switch::{LinuxSwitch, RunOptions};

fn line(request: &str) -> Vec<u8> {
    format!(r#"{{"version":{VERSION},"request":{request}}}"#).into_bytes()
}

/// The reply line the switch writes for a refused request, read back as the
/// client reads it.
fn reply_to(error: &str) -> Response {
    let mut bytes = serde_json::to_vec(&Response::err(error)).unwrap();
    assert!(!bytes.contains(&b'\n'), "a reply must be one line");
    bytes.push(b'\n');
    serde_json::from_slice(&bytes).unwrap()
}

fn refused(bytes: &[u8]) -> String {
    let e = parse_request(bytes).expect_err("a malformed request must be refused");
    assert!(!e.is_empty());
    let r = reply_to(&e);
    assert!(!r.ok);
    assert_eq!(r.version, VERSION);
    assert_eq!(r.error.as_deref(), Some(e.as_str()));
    e
}

#[test]
fn unknown_commands_are_refused() {
    let e = refused(&line(r#"{"cmd":"reboot"}"#));
    assert!(e.contains("reboot"), "{e}");
    refused(&line(r#"{"cmd":""}"#));
    refused(&line(r#"{}"#));
    refused(&line(r#""show""#));
    refused(b"");
}

#[test]
fn wrong_types_are_refused() {
    refused(&line(r#"{"cmd":7}"#));
    refused(&line(r#"{"cmd":"add","port":5}"#));
    refused(&line(r#"{"cmd":"add","port":["a"]}"#));
    refused(&line(r#"{"cmd":"add"}"#));
    refused(&line(
        r#"{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":"ten"}"#,
    ));
    refused(&line(
        r#"{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":70000}"#,
    ));
    refused(&line(
        r#"{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":-1}"#,
    ));
    refused(&line(r#"{"cmd":"fdb-del","mac":1,"vlan":0}"#));
    refused(br#"{"version":"1","request":{"cmd":"show"}}"#);
    refused(br#"{"version":4294967296,"request":{"cmd":"show"}}"#);
    let e = refused(br#"{"version":2,"request":{"cmd":"show"}}"#);
    assert!(e.contains("version"), "{e}");
    refused(b"null");
    refused(b"[1,2,3]");
}

#[test]
fn cut_off_requests_are_refused() {
    let whole = line(r#"{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":1}"#);
    assert!(parse_request(&whole).is_ok());
    for end in 0..whole.len() {
        refused(&whole[..end]);
    }
}

#[test]
fn oversize_and_odd_bytes_are_refused_or_parsed_without_panicking() {
    // Deep nesting stops at serde_json's recursion limit.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    refused(deep.as_bytes());
    // A long port name parses; the switch then refuses the name itself.
    let long = line(&format!(
        r#"{{"cmd":"add","port":"{}"}}"#,
        "a".repeat(1 << 20)
    ));
    assert!(matches!(parse_request(&long), Ok(Request::Add { port }) if port.len() == 1 << 20));
    refused(&[0xff, 0xfe, 0x00, b'{']);
    refused(b"{\"version\":1,\"request\":{\"cmd\":\"add\",\"port\":\"\xff\"}}");
}

// ---------------------------------------------------------------------------
// A running switch
// ---------------------------------------------------------------------------

/// The control socket of a switch started by a test: the switch thread never
/// returns (it ends with the process), so the socket file is removed here, even
/// when an assertion fails.
struct SocketFile(std::path::PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl std::ops::Deref for SocketFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

/// Starts a switch with no ports in a thread of this test process (it ends
/// with the process); returns its socket path, or `None` when not root.
fn start_switch(tag: char) -> Option<SocketFile> {
    let name = format!("vswt-ctl{tag}-{}", std::process::id());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let sw = LinuxSwitch::new(RunOptions {
            name,
            ..RunOptions::default()
        });
        match sw {
            Ok(mut sw) => {
                tx.send(Some(sw.socket_path().to_path_buf())).unwrap();
                let _ = sw.run();
            }
            Err(e) => {
                eprintln!("skipping the running-switch test: {e}");
                tx.send(None).unwrap();
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .ok()
        .flatten()
        .map(SocketFile)
}

/// Sends `bytes` on a new connection, closes the writing side, and returns the
/// reply line if there is one.
fn exchange(path: &std::path::Path, bytes: &[u8]) -> Option<Response> {
    let mut s = UnixStream::connect(path).expect("the switch listens");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The switch may close before reading everything of an oversize request.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = String::new();
    let _ = BufReader::new(s).read_line(&mut reply);
    serde_json::from_str(&reply).ok()
}

fn answers_show(path: &std::path::Path) -> bool {
    let mut show = line(r#"{"cmd":"show"}"#);
    show.push(b'\n');
    exchange(path, &show).is_some_and(|r| r.ok)
}

fn wait_for(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !answers_show(path) {
        assert!(Instant::now() < deadline, "the switch never answered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_running_switch_answers_malformed_requests_and_keeps_running() {
    let Some(path) = start_switch('a') else {
        return;
    };
    wait_for(&path);
    let malformed: Vec<Vec<u8>> = vec![
        line(r#"{"cmd":"reboot"}"#),
        line(r#"{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":"ten"}"#),
        line(r#"{"cmd":"add","port":7}"#),
        br#"{"version":2,"request":{"cmd":"show"}}"#.to_vec(),
        b"\xff\xfe garbage".to_vec(),
        // Well-formed, but refused by the switch.
        line(r#"{"cmd":"del","port":"no-such-port"}"#),
        line(r#"{"cmd":"fdb-add","mac":"ff:ff:ff:ff:ff:ff","port":"p","vlan":0}"#),
        line(r#"{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":4095}"#),
        line(r#"{"cmd":"capture","port":"nothing"}"#),
    ];
    for request in &malformed {
        let mut bytes = request.clone();
        bytes.push(b'\n');
        let r = exchange(&path, &bytes)
            .unwrap_or_else(|| panic!("no reply to {:?}", String::from_utf8_lossy(request)));
        assert!(!r.ok, "{:?} was accepted", String::from_utf8_lossy(request));
        assert!(r.error.is_some_and(|e| !e.is_empty()));
        assert!(answers_show(&path), "the switch stopped answering");
    }
    // Cut off (no newline, then end of stream) and oversize (no newline within
    // the switch's 64 KiB limit): the switch drops the connection and goes on.
    let cut = line(r#"{"cmd":"sh"#);
    let _ = exchange(&path, &cut);
    assert!(
        answers_show(&path),
        "the switch stopped after a cut-off request"
    );
    let oversize = vec![b'{'; 200 << 10];
    let _ = exchange(&path, &oversize);
    assert!(
        answers_show(&path),
        "the switch stopped after an oversize request"
    );
}

/// Every malformed request gets an error reply: also one cut off by the end of
/// the stream, and one over the 64 KiB limit.
#[test]
fn cut_off_and_oversize_requests_get_an_error_reply() {
    let Some(path) = start_switch('b') else {
        return;
    };
    wait_for(&path);
    let cut = exchange(&path, &line(r#"{"cmd":"sh"#));
    assert!(
        cut.is_some_and(|r| !r.ok),
        "no error reply to a cut-off request"
    );
    let mut oversize = line(&format!(
        r#"{{"cmd":"add","port":"{}"}}"#,
        "a".repeat(70_000)
    ));
    oversize.push(b'\n');
    let big = exchange(&path, &oversize);
    assert!(
        big.is_some_and(|r| !r.ok),
        "no error reply to an oversize request"
    );
}
