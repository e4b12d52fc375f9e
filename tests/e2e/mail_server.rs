//! A mail API on 127.0.0.1 for the delivery tests: it speaks the part of Resend's API the
//! mail component uses (`POST /emails`, bearer token, JSON body, `Idempotency-Key`) and
//! records every request it receives, so a test can count the messages per digest and read
//! their parts and headers. It answers 200 `{"id": ...}`, or the statuses a test queued
//! ([`MailServer::fail_next`]); a request with a key it already accepted is answered again
//! without a new message, as Resend does. One thread per connection; stopped on drop.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;

/// The bearer token the server accepts.
pub const TOKEN: &str = "re_e2e_token_0123456789";

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: Option<String>,
    pub body: Value,
    /// The status it was answered with.
    pub status: u16,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    accepted: HashSet<String>,
    fail: Vec<u16>,
}

pub struct MailServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MailServer {
    pub fn start() -> MailServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mail server");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let state = state.clone();
                        std::thread::spawn(move || serve(stream, &state));
                    }
                }
            })
        };
        MailServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of `POST /emails`.
    pub fn url(&self) -> String {
        format!("{}/emails", self.origin())
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("state").received.clone()
    }

    /// The messages accepted (answered 2xx, a key's first time only).
    pub fn messages(&self) -> Vec<Received> {
        let mut seen = HashSet::new();
        self.received()
            .into_iter()
            .filter(|r| r.status == 200)
            .filter(|r| seen.insert(r.idempotency_key.clone().unwrap_or_default()))
            .collect()
    }

    /// Answers the next requests with these statuses (then 200 again).
    pub fn fail_next(&self, statuses: &[u16]) {
        self.state
            .lock()
            .expect("state")
            .fail
            .extend_from_slice(statuses);
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let (mut length, mut authorization, mut key, mut chunked) = (0usize, None, None, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim().to_owned();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "authorization" => authorization = Some(value),
                "idempotency-key" => key = Some(value),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
    }
    let body = if chunked {
        match read_chunked(&mut reader) {
            Some(body) => body,
            None => return,
        }
    } else {
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        body
    };
    let (status, answer) = {
        let mut state = state.lock().expect("state");
        let status = if !line.starts_with("POST /emails ") {
            404
        } else if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
            401
        } else if !state.fail.is_empty() {
            state.fail.remove(0)
        } else {
            200
        };
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status == 200 {
            state.accepted.insert(key.clone().unwrap_or_default());
        }
        state.received.push(Received {
            idempotency_key: key.clone(),
            body,
            status,
        });
        let answer = if status == 200 {
            format!("{{\"id\":\"{}\"}}", key.unwrap_or_default())
        } else {
            "{\"name\":\"fixture_error\",\"message\":\"queued failure\"}".to_owned()
        };
        (status, answer)
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

/// A chunked body (RFC 9112, 7.1), without trailers.
fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}
