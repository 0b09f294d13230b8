//! Any bytes as a control-socket request line: `parse_request` must return a
//! request or an error, never panic; the switch's reply to either must
//! serialise to one JSON line that the client reads back; a request that
//! parses must survive a round trip; and the names and addresses it carries
//! must go through the parsers the switch hands them to without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitch_core::MacAddr;
use vswitch_linux::control::{check_name, parse_request, Request, Response, VERSION};
use vswitch_linux::target::PortTarget;

/// The reply line the switch writes, read back as the client reads it.
fn reply(response: &Response) -> Response {
    let mut line = serde_json::to_vec(response).expect("a response serialises");
    assert!(!line.contains(&b'\n'), "a reply spans lines");
    line.push(b'\n');
    let text = std::str::from_utf8(&line).expect("JSON is UTF-8");
    serde_json::from_str(text).expect("the client reads the reply")
}

fn port_spec(spec: &str) {
    let _ = check_name(spec);
    if let Err(e) = PortTarget::parse(spec) {
        let back = reply(&Response::err(&e));
        assert_eq!(back.error, Some(e.to_string()));
    }
}

fuzz_target!(|line: &[u8]| {
    // The switch takes the bytes before the first newline.
    let line = match line.iter().position(|&b| b == b'\n') {
        Some(end) => &line[..end],
        None => line,
    };
    match parse_request(line) {
        Err(e) => {
            let back = reply(&Response::err(&e));
            assert!(!back.ok);
            assert_eq!(back.version, VERSION);
            assert_eq!(back.error.as_deref(), Some(e.as_str()));
        }
        Ok(request) => {
            // What a client would send for it parses to the same request.
            let again = serde_json::json!({ "version": VERSION, "request": &request });
            let bytes = serde_json::to_vec(&again).expect("a request serialises");
            assert_eq!(parse_request(&bytes).as_ref(), Ok(&request));
            match &request {
                Request::Add { port } | Request::Del { port } | Request::Capture { port } => {
                    port_spec(port)
                }
                Request::FdbAdd { mac, port, .. } => {
                    let _ = mac.parse::<MacAddr>();
                    port_spec(port);
                }
                Request::FdbDel { mac, .. } => {
                    let _ = mac.parse::<MacAddr>();
                }
                Request::FdbFlush { port: Some(p) } | Request::Trace { port: Some(p) } => {
                    port_spec(p)
                }
                _ => {}
            }
            let back = reply(&Response::ok(&request));
            assert!(back.ok);
        }
    }
});
