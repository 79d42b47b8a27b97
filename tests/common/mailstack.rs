//! The real Postfix + Dovecot started by `tests/mailstack/mailstack.sh`
//! (see tests/run-all.sh): how tests find it, send mail through it and look
//! into its mailboxes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const SMTP_PORT: u16 = 2525;
pub const IMAP_PORT: u16 = 1143;
pub const IMAPS_PORT: u16 = 1993;
pub const PASSWORD: &str = "secret";

pub struct Mailstack {
    pub root: PathBuf,
}

/// The running mail stack, or `None` (with a message) when it is not there.
/// With `TICKETBOX_REQUIRE_MAILSTACK=1` (as tests/run-all.sh sets) a missing
/// stack is a failure, never a silent skip.
pub fn mailstack() -> Option<Mailstack> {
    let root =
        std::env::var("TICKETBOX_MAILSTACK").unwrap_or_else(|_| "/tmp/ticketbox-mailstack".into());
    let up = [SMTP_PORT, IMAP_PORT]
        .iter()
        .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok());
    if up && Path::new(&root).join("tls/cert.pem").exists() {
        return Some(Mailstack { root: root.into() });
    }
    let msg = "the test mail stack is not running: `bash tests/mailstack/mailstack.sh install && bash tests/mailstack/mailstack.sh up` (tests/run-all.sh does this)";
    if std::env::var("TICKETBOX_REQUIRE_MAILSTACK").is_ok_and(|v| v == "1") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh address `<role>-<pid>-<n>@example.test`: every address exists on
/// the stack, so tests never share mailboxes.
pub fn fresh_address(role: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 1_000_000);
    format!("{role}-{}-{t}-{n}@example.test", std::process::id())
}

impl Mailstack {
    pub fn ca_file(&self) -> PathBuf {
        self.root.join("tls/cert.pem")
    }

    /// Config for a worker whose address is `support`, sending through
    /// Postfix with STARTTLS; tables may follow it.
    pub fn sending_config(&self, support: &str) -> String {
        format!(
            r#"
[support]
address = "{support}"
name = "Test Support"

[outbox]
transport = "smtp"
retry_base_seconds = 1

[smtp]
host = "127.0.0.1"
port = {SMTP_PORT}
tls = "starttls"
ca_file = {ca:?}
"#,
            ca = self.ca_file()
        )
    }

    /// Config for a worker reading `support` over plain IMAP on loopback
    /// and sending through Postfix with STARTTLS. `extra` lands in the
    /// `[[mailbox]]` table; tables may follow it.
    pub fn worker_config(&self, support: &str, extra: &str) -> String {
        format!(
            r#"{sending}
[[mailbox]]
name = "support"
host = "127.0.0.1"
port = {IMAP_PORT}
tls = "plain"
allow_plaintext = true
user = "{support}"
password_env = "TB_TEST_PASSWORD"
{extra}
"#,
            sending = self.sending_config(support)
        )
    }

    /// The Maildir Dovecot keeps for `address`.
    pub fn maildir(&self, address: &str) -> PathBuf {
        let (local, domain) = address.split_once('@').expect("address");
        self.root
            .join("vmail")
            .join(domain.to_lowercase())
            .join(local.to_lowercase())
            .join("Maildir")
    }

    /// Messages in `address`'s INBOX (new and cur), as text.
    pub fn inbox(&self, address: &str) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir(address).join(sub)) {
                for e in rd.flatten() {
                    if let Ok(bytes) = std::fs::read(e.path()) {
                        out.push(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
        }
        out
    }

    /// Puts a message straight into `address`'s Maildir (as an MDA would),
    /// for backlogs too large to push through SMTP quickly.
    pub fn deliver_direct(&self, address: &str, n: usize, bytes: &[u8]) {
        let name = format!("{}.M{n}P{}.direct", 1_795_800_000 + n, std::process::id());
        self.put_files(address, std::iter::once((name, bytes.to_vec())));
    }

    /// Puts many messages straight into `address`'s Maildir at once.
    pub fn deliver_many(&self, address: &str, messages: impl Iterator<Item = Vec<u8>>) {
        let pid = std::process::id();
        self.put_files(
            address,
            messages
                .enumerate()
                .map(|(n, bytes)| (format!("{}.M{n}P{pid}.many", 1_795_800_000 + n), bytes)),
        );
    }

    /// Writes each (name, bytes) into `address`'s Maildir as an MDA does
    /// (tmp/, then new/), then hands the Maildir to Dovecot's user once.
    fn put_files(&self, address: &str, files: impl Iterator<Item = (String, Vec<u8>)>) {
        let md = self.maildir(address);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).expect("maildir");
        }
        for (name, bytes) in files {
            let tmp = md.join("tmp").join(&name);
            std::fs::write(&tmp, bytes).expect("write");
            std::fs::rename(&tmp, md.join("new").join(&name)).expect("rename");
        }
        // Dovecot runs as uid 5000 and must be able to move the files.
        let _ = std::process::Command::new("chown")
            .args(["-R", "5000:5000"])
            .arg(&md)
            .status();
    }

    /// Like [`Mailstack::deliver_direct`], as delivered at `at`: Dovecot
    /// takes a Maildir file's modification time as its INTERNALDATE.
    pub fn deliver_direct_at(
        &self,
        address: &str,
        n: usize,
        bytes: &[u8],
        at: std::time::SystemTime,
    ) {
        self.deliver_direct(address, n, bytes);
        let name = format!("{}.M{n}P{}.direct", 1_795_800_000 + n, std::process::id());
        let file = std::fs::File::options()
            .write(true)
            .open(self.maildir(address).join("new").join(name))
            .expect("delivered file");
        file.set_modified(at).expect("set mtime");
    }

    pub fn script(&self, action: &str) {
        let status = std::process::Command::new("bash")
            .arg(Path::new(super::REPO).join("tests/mailstack/mailstack.sh"))
            .arg(action)
            .env("MAILSTACK_ROOT", &self.root)
            .status()
            .expect("run mailstack.sh");
        assert!(status.success(), "mailstack.sh {action} failed");
    }
}

/// Sends one message through Postfix (plain SMTP on loopback), the way a
/// customer's mail server would hand it over.
pub fn smtp_send(from: &str, to: &[&str], message: &[u8]) {
    let stream = TcpStream::connect(("127.0.0.1", SMTP_PORT)).expect("connect to Postfix");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut w = stream;
    let expect = |code: &str, reader: &mut BufReader<TcpStream>| loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read SMTP reply");
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    expect("220", &mut reader);
    let cmd = |w: &mut TcpStream, c: String, code: &str, reader: &mut BufReader<TcpStream>| {
        w.write_all(c.as_bytes()).expect("write");
        expect(code, reader);
    };
    cmd(&mut w, "EHLO test.example\r\n".into(), "250", &mut reader);
    cmd(
        &mut w,
        format!("MAIL FROM:<{from}>\r\n"),
        "250",
        &mut reader,
    );
    for r in to {
        cmd(&mut w, format!("RCPT TO:<{r}>\r\n"), "250", &mut reader);
    }
    cmd(&mut w, "DATA\r\n".into(), "354", &mut reader);
    // The message goes as bytes (8-bit charsets intact), dot-stuffed.
    let mut data = Vec::with_capacity(message.len() + 16);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
    }
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    w.write_all(&data).expect("write DATA");
    expect("250", &mut reader);
    cmd(&mut w, "QUIT\r\n".into(), "221", &mut reader);
}

/// Waits up to `secs` seconds for `cond`, checking every 10 ms.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}
