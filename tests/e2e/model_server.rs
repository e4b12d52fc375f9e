//! A language model service on 127.0.0.1 speaking Spin's `remote_http` default protocol
//! (`[llm_compute] type = "remote_http"`, read in Spin 4.0.2's `llm-remote-http` crate):
//! `POST /infer` with `authorization: bearer <auth_token>` and
//! `{"model", "prompt", "options": {"maxTokens", "temperature", ...}}` (camelCase), answered by
//! `{"text": "...", "usage": {"promptTokenCount": N, "generatedTokenCount": M}}`. It answers
//! with [`ModelServer::set_answer`]'s text after [`ModelServer::set_delay`], or with a 500 and
//! a body that is not the protocol's ([`ModelServer::set_broken`]), and records every request.
//!
//! One thread accepts; each connection gets a thread (a slow answer holds nothing else up).
//! Stopped on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// The token the runtime config gives Spin for the service.
pub const MODEL_TOKEN: &str = "e2e-model-token";

/// One request the service received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: String,
    pub body: Value,
}

struct State {
    answer: String,
    delay: Duration,
    broken: bool,
    received: Vec<Received>,
}

pub struct ModelServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ModelServer {
    pub fn start() -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the model server");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State {
            answer: "An overview.".to_owned(),
            delay: Duration::ZERO,
            broken: false,
            received: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        ModelServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT`, the runtime config's `url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_answer(&self, text: &str) {
        self.lock().answer = text.to_owned();
    }

    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub fn set_broken(&self, broken: bool) {
        self.lock().broken = broken;
    }

    /// The requests received so far, in order; and forgets them.
    pub fn take_received(&self) -> Vec<Received> {
        std::mem::take(&mut self.lock().received)
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (mut length, mut authorization) = (0usize, String::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            } else if name == "authorization" {
                authorization = value.to_owned();
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (answer, delay, broken) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.received.push(Received {
            path,
            authorization,
            body,
        });
        (state.answer.clone(), state.delay, state.broken)
    };
    std::thread::sleep(delay);
    let (status, body) = if broken {
        ("500 Internal Server Error", b"model overloaded".to_vec())
    } else {
        let body = json!({
            "text": answer,
            "usage": { "promptTokenCount": 42, "generatedTokenCount": 7 },
        });
        ("200 OK", serde_json::to_vec(&body).unwrap_or_default())
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}
