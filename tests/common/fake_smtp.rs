//! A small SMTP server on 127.0.0.1 that misbehaves on purpose, beside the
//! real Postfix: refusing some recipients, greylisting, closing with 421
//! after a few messages, answering the final dot slowly, echoing the AUTH
//! blob in its refusal. It records every message it accepts.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does; change it while it runs through [`FakeSmtp::set`].
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// RCPT TO for these addresses gets this reply line.
    pub refuse: Vec<(String, String)>,
    /// The first RCPT of each recipient is greylisted with this wait.
    pub greylist_seconds: Option<u64>,
    /// After this many messages on one connection: `421` to the next MAIL,
    /// and the connection is closed.
    pub close_after: Option<usize>,
    /// Wait this long before answering the final dot.
    pub dot_delay: Duration,
    /// Refuse AUTH with a 535 that repeats what the client sent.
    pub echo_auth: bool,
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub connection: usize,
}

impl Received {
    pub fn message_id(&self) -> String {
        self.data
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("message-id:")
                    .then(|| l[11..].trim().to_owned())
            })
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    greylisted: Mutex<Vec<String>>,
    connections: AtomicUsize,
    auth_seen: Mutex<Vec<String>>,
    stop: Arc<AtomicBool>,
}

pub struct FakeSmtp {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeSmtp {
    pub fn start(behaviour: Behaviour) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake SMTP");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        *shared.behaviour.lock().unwrap() = behaviour;
        let s = shared.clone();
        super::accept_loop(listener, stop_flag(&shared), move |stream, _| {
            let n = s.connections.fetch_add(1, Ordering::Relaxed) + 1;
            let _ = serve(stream, &s, n);
        });
        FakeSmtp { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.shared.behaviour.lock().unwrap());
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// What clients sent after `AUTH` (to check that it was a secret).
    pub fn auth_seen(&self) -> Vec<String> {
        self.shared.auth_seen.lock().unwrap().clone()
    }

    /// `[smtp]` settings for a ticketbox config pointing at this server.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "[outbox]\ntransport = \"smtp\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\n\
             tls = \"plain\"\nallow_plaintext = true\n{extra}\n",
            self.port()
        )
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, s: &Shared, connection: usize) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    let mut say = |line: &str| out.write_all(format!("{line}\r\n").as_bytes());
    say("220 fake.example ESMTP ready")?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    let mut done_here = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let b = s.behaviour.lock().unwrap().clone();
        if upper.starts_with("EHLO") {
            say("250-fake.example")?;
            say("250-8BITMIME")?;
            say("250-SMTPUTF8")?;
            say("250 AUTH PLAIN LOGIN")?;
        } else if upper.starts_with("HELO") {
            say("250 fake.example")?;
        } else if upper.starts_with("AUTH") {
            let blob = cmd.split_whitespace().nth(2).unwrap_or("").to_owned();
            s.auth_seen.lock().unwrap().push(blob.clone());
            if b.echo_auth {
                say(&format!("535 5.7.8 Authentication failed for {blob}"))?;
            } else {
                say("235 2.7.0 Authentication successful")?;
            }
        } else if upper.starts_with("MAIL FROM:") {
            if b.close_after.is_some_and(|n| done_here >= n) {
                say("421 4.3.2 Service shutting down, closing channel")?;
                return Ok(());
            }
            from = address(&cmd[10..]);
            to.clear();
            say("250 2.1.0 Ok")?;
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = address(&cmd[8..]);
            if let Some((_, reply)) = b.refuse.iter().find(|(a, _)| *a == rcpt) {
                say(reply)?;
            } else if let Some(wait) = b.greylist_seconds
                && !s.greylisted.lock().unwrap().contains(&rcpt)
            {
                s.greylisted.lock().unwrap().push(rcpt.clone());
                say(&format!(
                    "450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted, try again in {wait} seconds"
                ))?;
            } else {
                to.push(rcpt);
                say("250 2.1.5 Ok")?;
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                say("554 5.5.1 Error: no valid recipients")?;
                continue;
            }
            say("354 End data with <CR><LF>.<CR><LF>")?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l)? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            std::thread::sleep(b.dot_delay);
            s.received.lock().unwrap().push(Received {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
                connection,
            });
            done_here += 1;
            say("250 2.0.0 Ok: queued")?;
        } else if upper == "RSET" || upper == "NOOP" {
            to.clear();
            say("250 2.0.0 Ok")?;
        } else if upper == "QUIT" {
            say("221 2.0.0 Bye")?;
            return Ok(());
        } else {
            say("502 5.5.2 Error: command not recognized")?;
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let end = arg.find('>').map_or(arg.len(), |i| i + 1);
    arg[..end]
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

fn stop_flag(s: &Arc<Shared>) -> Arc<AtomicBool> {
    s.stop.clone()
}
