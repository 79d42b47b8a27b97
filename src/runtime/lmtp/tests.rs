use super::*;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, DuplexStream};

/// A context whose store records what it was given, failing while `fail`
/// holds a reason.
type Shared<T> = Arc<Mutex<T>>;

fn context(max_bytes: usize) -> (Context, Shared<Vec<RawMail>>, Shared<Option<String>>) {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let fail = Arc::new(Mutex::new(None::<String>));
    let (s, f) = (stored.clone(), fail.clone());
    let store: StoreFn = Arc::new(move |mail: RawMail| {
        let (s, f) = (s.clone(), f.clone());
        Box::pin(async move {
            if let Some(why) = f.lock().unwrap().clone() {
                return Err(why);
            }
            let mut s = s.lock().unwrap();
            s.push(mail);
            Ok(Some(s.len() as u64))
        })
    });
    let cfg = Config::default();
    let ctx = Context {
        hostname: "help.example.com".into(),
        max_bytes,
        cfg: Arc::new(cfg),
        store,
        health: None,
    };
    (ctx, stored, fail)
}

/// The client's end of a session running on a task.
struct Client {
    io: DuplexStream,
    pending: Vec<u8>,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Client {
    fn start(ctx: Context) -> Client {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (stop, shutdown) = watch::channel(false);
        let done = tokio::spawn(async move { session(theirs, &ctx, shutdown).await });
        Client {
            io: ours,
            pending: Vec::new(),
            stop,
            done,
        }
    }

    async fn send(&mut self, text: &str) {
        self.io.write_all(text.as_bytes()).await.unwrap();
    }

    /// The next reply: its lines up to the one without a `-` after the code.
    async fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let line = self.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            out.push_str(&line);
            if last {
                return out;
            }
        }
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return String::from_utf8(line).unwrap();
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), self.io.read(&mut buf))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(n > 0, "the server closed; had {:?}", self.pending);
            self.pending.extend_from_slice(&buf[..n]);
        }
    }
}

const MESSAGE: &str = "From: Ada <ada@example.org>\r\nTo: support@example.com\r\n\
Subject: Printer\r\nMessage-ID: <p1@example.org>\r\n\r\nIt jams.\r\n..a line that began with a dot\r\n";

#[tokio::test]
async fn stores_a_message_and_answers_each_recipient() {
    let (ctx, stored, _) = context(1 << 20);
    let mut c = Client::start(ctx);
    assert!(c.reply().await.starts_with("220 help.example.com LMTP"));
    c.send("LHLO mta.example.com\r\n").await;
    let lhlo = c.reply().await;
    assert!(
        lhlo.contains("250-PIPELINING") && lhlo.contains("250 SIZE 1048576"),
        "{lhlo}"
    );
    // Pipelined as Postfix sends it: envelope and DATA in one write.
    c.send("MAIL FROM:<ada@example.org> SIZE=200 BODY=8BITMIME\r\nRCPT TO:<support+billing@example.com>\r\nRCPT TO:<Support@Example.com>\r\nDATA\r\n")
        .await;
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("354"));
    c.send(&format!("{MESSAGE}.\r\n")).await;
    // One reply per recipient, after the message is stored.
    assert_eq!(
        c.line().await,
        "250 2.0.0 <support+billing@example.com> Stored, ticket 1\r\n"
    );
    assert_eq!(
        c.line().await,
        "250 2.0.0 <Support@Example.com> Stored, ticket 1\r\n"
    );
    let mails = stored.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "stored once for both recipients");
    let text = String::from_utf8(mails[0].bytes.clone()).unwrap();
    assert!(
        text.starts_with("Return-Path: <ada@example.org>\r\nFrom: Ada"),
        "{text}"
    );
    assert!(
        text.ends_with("It jams.\r\n.a line that began with a dot\r\n"),
        "{text:?}"
    );
    assert_eq!(
        mails[0].queue.as_deref(),
        Some("billing"),
        "the plus tag names the queue"
    );
    assert_eq!(mails[0].origin, "lmtp:support+billing@example.com");
    c.send("QUIT\r\n").await;
    assert!(c.reply().await.starts_with("221"));
    c.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_bounce_keeps_its_null_sender_and_a_second_message_follows() {
    let (ctx, stored, _) = context(1 << 20);
    let mut c = Client::start(ctx);
    c.reply().await;
    c.send("LHLO x\r\n").await;
    c.reply().await;
    for (i, from) in ["", "bob@example.net"].iter().enumerate() {
        c.send(&format!(
            "MAIL FROM:<{from}>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n"
        ))
        .await;
        for _ in 0..3 {
            c.reply().await;
        }
        c.send(&format!("Subject: {i}\r\n\r\nbody\r\n.\r\n")).await;
        assert!(c.line().await.starts_with("250 2.0.0"));
    }
    let mails = stored.lock().unwrap().clone();
    assert!(mails[0].bytes.starts_with(b"Return-Path: <>\r\nSubject: 0"));
    assert!(
        mails[1]
            .bytes
            .starts_with(b"Return-Path: <bob@example.net>\r\nSubject: 1")
    );
    assert_eq!(mails[1].queue, None, "the plain address names no queue");
}

#[tokio::test]
async fn a_store_that_fails_is_a_temporary_failure_and_the_session_goes_on() {
    let (ctx, stored, fail) = context(1 << 20);
    *fail.lock().unwrap() = Some("no room on the data disk\nsecond line".into());
    let mut c = Client::start(ctx);
    c.reply().await;
    c.send("LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<s@example.com>\r\nRCPT TO:<t@example.com>\r\nDATA\r\n")
        .await;
    for _ in 0..5 {
        c.reply().await;
    }
    c.send("Subject: x\r\n\r\ny\r\n.\r\n").await;
    let first = c.line().await;
    assert!(
        first.starts_with("451 4.3.0 <s@example.com> Not stored now (no room on the data disk"),
        "{first}"
    );
    assert_eq!(first.matches('\n').count(), 1, "one line: {first:?}");
    assert!(c.line().await.starts_with("451 4.3.0 <t@example.com>"));
    assert!(stored.lock().unwrap().is_empty());
    // The MTA tries again, and now it is stored.
    *fail.lock().unwrap() = None;
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<s@example.com>\r\nDATA\r\nSubject: x\r\n\r\ny\r\n.\r\n")
        .await;
    for _ in 0..3 {
        c.reply().await;
    }
    assert!(
        c.line()
            .await
            .starts_with("250 2.0.0 <s@example.com> Stored")
    );
}

#[tokio::test]
async fn too_large_is_refused_for_good_before_and_after_data() {
    let (ctx, stored, _) = context(100);
    let mut c = Client::start(ctx);
    c.reply().await;
    c.send("LHLO x\r\n").await;
    c.reply().await;
    c.send("MAIL FROM:<a@example.org> SIZE=5000\r\n").await;
    let r = c.reply().await;
    assert!(
        r.starts_with("552 5.3.4 The message is larger than the 100 bytes"),
        "{r}"
    );
    // Without SIZE the limit is found while reading; the message is read
    // to its end and the session stays usable.
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<s@example.com>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.reply().await;
    }
    let long = "x".repeat(60);
    c.send(&format!(
        "Subject: big\r\n\r\n{long}\r\n{long}\r\n{}\r\n.\r\n",
        "y".repeat(5000)
    ))
    .await;
    let r = c.line().await;
    assert!(
        r.starts_with("552 5.3.4 <s@example.com> The message is larger"),
        "{r}"
    );
    c.send("NOOP\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    assert!(stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn commands_out_of_order_and_smtp_greetings_are_refused() {
    let (ctx, _, _) = context(1000);
    let mut c = Client::start(ctx);
    c.reply().await;
    c.send("EHLO x\r\n").await;
    assert!(c.reply().await.starts_with("500 5.5.1 This is LMTP"));
    c.send("MAIL FROM:<a@example.org>\r\n").await;
    assert!(c.reply().await.starts_with("503 5.5.1 Say LHLO"));
    c.send("LHLO x\r\nRCPT TO:<s@example.com>\r\nDATA\r\n")
        .await;
    c.reply().await;
    assert!(c.reply().await.starts_with("503 5.5.1 Say MAIL"));
    assert!(c.reply().await.starts_with("503 5.5.1 No valid recipients"));
    c.send("MAIL FROM:<a@example.org>\r\nMAIL FROM:<b@example.org>\r\nRCPT TO:<nobody>\r\nRCPT TO:s@example.com\r\nFROB\r\n")
        .await;
    assert!(c.reply().await.starts_with("250"));
    assert!(c.reply().await.starts_with("503 5.5.1 Nested"));
    assert!(
        c.reply()
            .await
            .starts_with("501 5.5.4 Syntax: RCPT TO:<user@domain>")
    );
    assert!(
        c.reply()
            .await
            .starts_with("501 5.5.4 Syntax: RCPT TO:<address>")
    );
    assert!(c.reply().await.starts_with("500 5.5.1"));
    c.send(&format!("NOOP {}\r\n", "z".repeat(MAX_COMMAND)))
        .await;
    assert!(c.reply().await.starts_with("500 5.5.2 Line too long"));
}

#[tokio::test]
async fn shutdown_says_so_to_an_idle_session() {
    let (ctx, _, _) = context(1000);
    let mut c = Client::start(ctx);
    c.reply().await;
    c.send("LHLO x\r\n").await;
    c.reply().await;
    c.stop.send(true).unwrap();
    assert!(c.reply().await.starts_with("421 4.3.2"));
    c.done.await.unwrap().unwrap();
}

#[test]
fn reads_envelope_paths_as_clients_write_them() {
    assert_eq!(
        parse("MAIL FROM:<a@b.c> SIZE=12 BODY=8BITMIME\r\n"),
        Command::Mail("a@b.c".into(), Some(12))
    );
    assert_eq!(
        parse("mail from: <>\r\n"),
        Command::Mail(String::new(), None)
    );
    assert_eq!(
        parse("RCPT TO:<@relay.example:u@d.e>"),
        Command::Rcpt("u@d.e".into())
    );
    assert_eq!(
        parse("rcpt to:<u@d.e> NOTIFY=NEVER"),
        Command::Rcpt("u@d.e".into())
    );
    assert!(matches!(parse("MAIL FROM:a@b.c"), Command::Syntax(_)));
    assert!(matches!(parse("MAIL FROM:<a b@c>"), Command::Syntax(_)));
    assert!(matches!(parse("LHLO"), Command::Syntax(_)));
    assert_eq!(parse("data"), Command::Data);
}
