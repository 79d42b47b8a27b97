//! A small IMAP server on 127.0.0.1 that misbehaves on purpose, beside the
//! real Dovecot: it can keep silent (no greeting, or no answer once IDLE
//! began), refuse to give one message, refuse moves, offer no IDLE, and
//! take only 7-bit folder names (modified UTF-7, as real servers do). New
//! mail becomes visible to a connection at NOOP, SELECT or during IDLE, as
//! with real servers.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Connections (counted from the first) that get no greeting at all.
    pub no_greeting: usize,
    /// Connections that go silent once they begin IDLE (no answer to DONE,
    /// nor to anything after).
    pub silent_in_idle: usize,
    /// UIDs whose FETCH the server refuses (`NO`).
    pub unreadable: BTreeSet<u32>,
    /// MOVE, COPY and CREATE answered with `NO`.
    pub refuse_move: bool,
    pub idle: bool,
    /// The selectable folder's name, as the server knows it (7-bit).
    pub folder: String,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            no_greeting: 0,
            silent_in_idle: 0,
            unreadable: BTreeSet::new(),
            refuse_move: false,
            idle: true,
            folder: "INBOX".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Msg {
    uid: u32,
    body: Vec<u8>,
    seen: bool,
}

#[derive(Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    messages: Mutex<Vec<Msg>>,
    next_uid: AtomicUsize,
    connections: AtomicUsize,
    logins: AtomicUsize,
    stop: Arc<AtomicBool>,
    /// Every command received, for assertions (`NOOP`, `UID MOVE` …).
    commands: Mutex<Vec<String>>,
}

pub struct FakeImap {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeImap {
    pub fn start(behaviour: Behaviour) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake IMAP");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        shared.next_uid.store(1, Ordering::Relaxed);
        *shared.behaviour.lock().unwrap() = behaviour;
        let s = shared.clone();
        super::accept_loop(listener, stop_flag(&shared), move |stream, _| {
            let n = s.connections.fetch_add(1, Ordering::Relaxed);
            let _ = serve(stream, &s, n);
        });
        FakeImap { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A new message in the mailbox.
    pub fn deliver(&self, body: &[u8]) -> u32 {
        let uid = self.shared.next_uid.fetch_add(1, Ordering::Relaxed) as u32;
        self.shared.messages.lock().unwrap().push(Msg {
            uid,
            body: body.to_vec(),
            seen: false,
        });
        uid
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.shared.behaviour.lock().unwrap());
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    pub fn logins(&self) -> usize {
        self.shared.logins.load(Ordering::Relaxed)
    }

    pub fn commands(&self) -> Vec<String> {
        self.shared.commands.lock().unwrap().clone()
    }

    /// UIDs flagged \Seen.
    pub fn seen(&self) -> Vec<u32> {
        let m = self.shared.messages.lock().unwrap();
        m.iter().filter(|m| m.seen).map(|m| m.uid).collect()
    }

    /// A `[[mailbox]]` for a ticketbox config reading this server.
    pub fn mailbox_config(&self, folder: &str, extra: &str) -> String {
        format!(
            "[[mailbox]]\nname = \"fake\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"plain\"\n\
             allow_plaintext = true\nuser = \"support\"\npassword_env = \"TB_TEST_PASSWORD\"\n\
             folder = {folder:?}\n{extra}\n",
            self.port()
        )
    }
}

impl Drop for FakeImap {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The UIDs a set like `3,5:7,9:*` names, among `all`.
fn uids_in(set: &str, all: &[u32]) -> Vec<u32> {
    let max = all.iter().copied().max().unwrap_or(0);
    let mut out = Vec::new();
    for part in set.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let n = |x: &str| {
            if x == "*" {
                max
            } else {
                x.parse().unwrap_or(0)
            }
        };
        let (mut lo, mut hi) = (n(a), n(b));
        if lo > hi {
            std::mem::swap(&mut lo, &mut hi);
        }
        out.extend(all.iter().copied().filter(|u| (lo..=hi).contains(u)));
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn serve(stream: TcpStream, s: &Shared, n: usize) -> std::io::Result<()> {
    let b = s.behaviour.lock().unwrap().clone();
    if n < b.no_greeting {
        // Accept, then say nothing, ever.
        std::thread::sleep(Duration::from_secs(600));
        return Ok(());
    }
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let caps = if b.idle {
        "IMAP4rev1 IDLE MOVE UIDPLUS"
    } else {
        "IMAP4rev1 UIDPLUS"
    };
    write!(out, "* OK [CAPABILITY {caps}] fake ready\r\n")?;
    // How many messages this connection has been told of.
    let mut known = 0usize;
    let mut silent = false;
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                if s.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        if silent {
            continue;
        }
        if !line.is_ascii() {
            let tag = String::from_utf8_lossy(&line)
                .split(' ')
                .next()
                .unwrap_or("*")
                .to_owned();
            write!(
                out,
                "{tag} BAD non-ASCII characters in a command (use modified UTF-7)\r\n"
            )?;
            continue;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let (tag, rest) = text.split_once(' ').unwrap_or((&text, ""));
        let upper = rest.to_ascii_uppercase();
        s.commands.lock().unwrap().push(rest.to_owned());
        let b = s.behaviour.lock().unwrap().clone();
        let visible = |s: &Shared| s.messages.lock().unwrap().clone();
        if upper.starts_with("LOGIN") {
            s.logins.fetch_add(1, Ordering::Relaxed);
            write!(out, "{tag} OK Logged in\r\n")?;
        } else if upper.starts_with("CAPABILITY") {
            write!(out, "* CAPABILITY {caps}\r\n{tag} OK done\r\n")?;
        } else if upper.starts_with("SELECT") || upper.starts_with("EXAMINE") {
            let name = rest[6..].trim().trim_matches('"');
            if name != b.folder {
                write!(
                    out,
                    "{tag} NO [NONEXISTENT] Mailbox doesn't exist: {name}\r\n"
                )?;
                continue;
            }
            let msgs = visible(s);
            known = msgs.len();
            let next = s.next_uid.load(Ordering::Relaxed);
            write!(
                out,
                "* FLAGS (\\Seen \\Deleted)\r\n* {known} EXISTS\r\n* 0 RECENT\r\n\
                 * OK [UIDVALIDITY 4242] ok\r\n* OK [UIDNEXT {next}] ok\r\n{tag} OK [READ-WRITE] done\r\n"
            )?;
        } else if upper.starts_with("CREATE") {
            if b.refuse_move {
                write!(out, "{tag} NO [NOPERM] Permission denied\r\n")?;
            } else {
                write!(out, "{tag} OK created\r\n")?;
            }
        } else if upper.starts_with("NOOP") {
            let now = visible(s).len();
            if now != known {
                known = now;
                write!(out, "* {known} EXISTS\r\n")?;
            }
            write!(out, "{tag} OK NOOP done\r\n")?;
        } else if upper.starts_with("UID SEARCH") {
            // Only what this connection has been shown.
            let msgs: Vec<Msg> = visible(s).into_iter().take(known).collect();
            let all: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
            let q = rest[10..].trim();
            let set = q
                .trim_start_matches("UID ")
                .split_whitespace()
                .next()
                .unwrap_or("");
            let mut hits = uids_in(set, &all);
            if q.to_ascii_uppercase().contains("UNSEEN") {
                hits.retain(|u| msgs.iter().any(|m| m.uid == *u && !m.seen));
            }
            let list: Vec<String> = hits.iter().map(u32::to_string).collect();
            write!(out, "* SEARCH {}\r\n{tag} OK done\r\n", list.join(" "))?;
        } else if upper.starts_with("UID FETCH") {
            let msgs: Vec<Msg> = visible(s).into_iter().take(known).collect();
            let all: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
            let mut parts = rest[9..].trim().splitn(2, ' ');
            let set = parts.next().unwrap_or("");
            let what = parts.next().unwrap_or("").to_ascii_uppercase();
            let mut refused = false;
            for uid in uids_in(set, &all) {
                let seq = msgs.iter().position(|m| m.uid == uid).unwrap() + 1;
                let m = &msgs[seq - 1];
                if what.contains("RFC822.SIZE") {
                    write!(
                        out,
                        "* {seq} FETCH (UID {uid} RFC822.SIZE {})\r\n",
                        m.body.len()
                    )?;
                } else if b.unreadable.contains(&uid) {
                    refused = true;
                } else {
                    write!(
                        out,
                        "* {seq} FETCH (UID {uid} BODY[] {{{}}}\r\n",
                        m.body.len()
                    )?;
                    out.write_all(&m.body)?;
                    write!(out, ")\r\n")?;
                }
            }
            if refused {
                write!(
                    out,
                    "{tag} NO [SERVERBUG] Internal error reading a message\r\n"
                )?;
            } else {
                write!(out, "{tag} OK Fetch completed\r\n")?;
            }
        } else if upper.starts_with("UID STORE") {
            let mut m = s.messages.lock().unwrap();
            let all: Vec<u32> = m.iter().map(|m| m.uid).collect();
            let set = rest[9..].split_whitespace().next().unwrap_or("");
            let hit = uids_in(set, &all);
            let seen = upper.contains("\\SEEN");
            let deleted = upper.contains("\\DELETED");
            for msg in m.iter_mut().filter(|x| hit.contains(&x.uid)) {
                msg.seen |= seen;
            }
            if deleted {
                // Expunged at once: simpler, and enough for these tests.
            }
            write!(out, "{tag} OK Store completed\r\n")?;
        } else if upper.starts_with("UID MOVE") || upper.starts_with("UID COPY") {
            if b.refuse_move {
                write!(out, "{tag} NO [TRYCREATE] Mailbox doesn't exist\r\n")?;
                continue;
            }
            let mut m = s.messages.lock().unwrap();
            let all: Vec<u32> = m.iter().map(|m| m.uid).collect();
            let set = rest[8..].split_whitespace().next().unwrap_or("");
            let hit = uids_in(set, &all);
            if upper.starts_with("UID MOVE") {
                for uid in hit.iter().rev() {
                    if let Some(i) = m.iter().position(|x| x.uid == *uid) {
                        m.remove(i);
                        if i < known {
                            known -= 1;
                            write!(out, "* {} EXPUNGE\r\n", i + 1)?;
                        }
                    }
                }
            }
            write!(out, "{tag} OK done\r\n")?;
        } else if upper.starts_with("UID EXPUNGE") || upper.starts_with("EXPUNGE") {
            write!(out, "{tag} OK Expunge completed\r\n")?;
        } else if upper.starts_with("IDLE") {
            write!(out, "+ idling\r\n")?;
            if n < b.no_greeting + b.silent_in_idle {
                silent = true;
                continue;
            }
            // Wait for DONE, telling of new mail meanwhile.
            loop {
                let now = visible(s).len();
                if now != known {
                    known = now;
                    write!(out, "* {known} EXISTS\r\n")?;
                }
                let mut l = Vec::new();
                match reader.read_until(b'\n', &mut l) {
                    Ok(0) => return Ok(()),
                    Ok(_)
                        if String::from_utf8_lossy(&l)
                            .trim()
                            .eq_ignore_ascii_case("DONE") =>
                    {
                        write!(out, "{tag} OK Idle completed\r\n")?;
                        break;
                    }
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        if s.stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        } else if upper.starts_with("LOGOUT") {
            write!(
                out,
                "* BYE fake logging out\r\n{tag} OK Logout completed\r\n"
            )?;
            return Ok(());
        } else {
            write!(out, "{tag} BAD Unknown command\r\n")?;
        }
        let _ = reader.get_mut().read(&mut []);
    }
}

fn stop_flag(s: &Arc<Shared>) -> Arc<AtomicBool> {
    s.stop.clone()
}
