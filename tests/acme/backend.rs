//! A backend for the routed requests: answers every HTTP/1.1 request `200 backend` and
//! closes, on a thread of its own.

use std::io::{Read, Write};
use std::net::TcpListener;

/// Starts the backend; its port.
pub fn start() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
    let port = listener.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbackend",
            );
        }
    });
    port
}
