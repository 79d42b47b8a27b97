//! `ticketbox deliver`: a mail server's pipe transport hands over one
//! message on stdin; exit 0 only once it is stored, 75 (EX_TEMPFAIL) when
//! it cannot be stored now, so the mail server keeps it and retries. The
//! envelope recipient picks the queue.

mod common;

use common::Sandbox;
use std::process::Output;

fn mail(n: usize, subject: &str) -> String {
    format!(
        "From: Dana Customer <dana{n}@customer{n}.example>\r\nTo: support@example.com\r\n\
         Subject: {subject}\r\nMessage-ID: <deliver-{n}@customer.example>\r\n\
         Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, something about {subject}.\r\n"
    )
}

fn deliver(sb: &Sandbox, recipient: &str, message: &str) -> Output {
    sb.with_stdin(&["deliver", "--recipient", recipient], message.as_bytes())
}

fn queue_of(sb: &Sandbox, id: u64) -> String {
    sb.json(&["show", &id.to_string(), "--json"])["queue"]
        .as_str()
        .unwrap()
        .to_owned()
}

const QUEUES: &str = "[queues.billing]\naddress = \"billing@example.com\"\n[queues.technical]\n";

#[test]
fn stored_then_exit_0_and_the_recipient_picks_the_queue() {
    let sb = Sandbox::new(QUEUES);
    for (n, to, queue) in [
        (0, "support+billing@example.com", "billing"),
        (1, "<Billing@Example.com>", "billing"),
        (2, "support+technical@example.com", "technical"),
        (3, "support@example.com", "general"),
    ] {
        let out = deliver(&sb, to, &mail(n, "a delivery question"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(queue_of(&sb, 1000 + n as u64), queue, "{to}");
    }
    // The same message again (the mail server retried): stored once.
    let again = deliver(&sb, "support@example.com", &mail(3, "a delivery question"));
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("duplicate"));
    assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 4);
}

#[test]
fn through_a_running_worker_which_acknowledges_at_once() {
    let sb = Sandbox::new(QUEUES);
    let worker = sb.start_worker(&[]);
    assert!(
        common::mailstack::wait_for(15, || sb.path("data").join("control.sock").exists()),
        "{}",
        sb.worker_log()
    );
    let out = deliver(&sb, "support+billing@example.com", &mail(7, "an invoice"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(queue_of(&sb, 1000), "billing");
    assert!(
        common::mailstack::wait_for(10, || sb.outbox_files().len() == 1),
        "no acknowledgement; {}",
        sb.worker_log()
    );
    assert!(worker.stop().success());
}

#[test]
fn not_storable_now_is_75_for_the_mail_server_to_retry() {
    // The data directory cannot be made (a file is in its place).
    let sb = Sandbox::new("");
    std::fs::write(sb.path("data"), b"not a directory").unwrap();
    let out = deliver(&sb, "support@example.com", &mail(9, "a retry"));
    assert_eq!(out.status.code(), Some(75));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("try again"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A config that does not load is no reason to bounce mail either.
    std::fs::write(sb.path("ticketbox.toml"), "[support\n").unwrap();
    let out = deliver(&sb, "support@example.com", &mail(9, "a retry"));
    assert_eq!(out.status.code(), Some(75));
    // Once it can be stored, it is.
    let sb = Sandbox::new("");
    let out = deliver(&sb, "support@example.com", &mail(9, "a retry"));
    assert_eq!(out.status.code(), Some(0));
}

/// Through the real Postfix: its pipe transport runs `ticketbox deliver`
/// (as `nobody`, from tests/mailstack/mailstack.sh's master.cf) for mail
/// to `*@pipe.test`. While the store cannot be written, deliver exits 75
/// and Postfix keeps the mail; once it can, Postfix delivers again and
/// the mail is one ticket.
#[test]
fn through_postfix_exit_75_is_retried_and_ticketed_once() {
    let Some(stack) = common::mailstack::mailstack() else {
        return;
    };
    let sb = Sandbox::new(QUEUES);
    sb.own_rules();
    // The pipe runs as nobody: the sandbox, a copy of the binary and the
    // config where master.cf looks for them.
    let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).unwrap();
    let templates = sb.path("templates");
    common::copy_dir(
        &std::path::Path::new(common::REPO).join("templates"),
        &templates,
    );
    let cfg = cfg.replace(
        &format!(
            "templates_dir = {:?}",
            std::path::Path::new(common::REPO).join("templates")
        ),
        &format!("templates_dir = {templates:?}"),
    );
    std::fs::write(sb.path("ticketbox.toml"), cfg).unwrap();
    std::fs::create_dir_all(sb.path("data")).unwrap();
    let owned = std::process::Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(sb.dir.path())
        .status()
        .unwrap();
    assert!(owned.success());
    let pipe = stack.root.join("pipe");
    std::fs::create_dir_all(&pipe).unwrap();
    let bin = pipe.join("ticketbox");
    let _ = std::fs::remove_file(&bin);
    std::fs::copy(env!("CARGO_BIN_EXE_ticketbox"), &bin).unwrap();
    let link = pipe.join("ticketbox.toml");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(sb.path("ticketbox.toml"), &link).unwrap();

    // The store cannot be written now: its directory is root's and closed
    // (the owner of a directory could open it again, and ticketbox would).
    use std::os::unix::fs::PermissionsExt;
    let own = |who: &str| {
        let ok = std::process::Command::new("chown")
            .arg(who)
            .arg(sb.path("data"))
            .status()
            .unwrap();
        assert!(ok.success());
    };
    own("root:root");
    std::fs::set_permissions(sb.path("data"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let to = "billing@pipe.test";
    let id = format!("pipe-{}@customer.example", std::process::id());
    let message = format!(
        "From: Pat Customer <pat@customer.example>\r\nTo: {to}\r\nSubject: Piped invoice question\r\n\
         Message-ID: <{id}>\r\n\r\nHello, about my invoice.\r\n"
    );
    // Only what the log says from now on counts (earlier runs wrote to it).
    let postfix_log = stack.root.join("log/postfix.log");
    let start = std::fs::metadata(&postfix_log).map_or(0, |m| m.len() as usize);
    let log = || {
        let all = std::fs::read(&postfix_log).unwrap_or_default();
        String::from_utf8_lossy(all.get(start..).unwrap_or_default()).into_owned()
    };
    common::mailstack::smtp_send("pat@customer.example", &[to], message.as_bytes());
    let ours = |l: &&str| l.contains(&format!("to=<{to}>")) && l.contains("relay=ticketbox");
    assert!(
        common::mailstack::wait_for(30, || log()
            .lines()
            .filter(ours)
            .any(|l| l.contains("status=deferred"))),
        "Postfix did not defer: {}",
        log()
    );
    let deferred = log()
        .lines()
        .filter(ours)
        .find(|l| l.contains("status=deferred"))
        .unwrap()
        .to_owned();
    assert!(deferred.contains("try again"), "{deferred}");

    // Writable again: Postfix delivers, once.
    own("nobody:nogroup");
    let flush = || {
        let _ = std::process::Command::new("postqueue")
            .arg("-c")
            .arg(stack.root.join("postfix"))
            .arg("-f")
            .status();
    };
    assert!(
        common::mailstack::wait_for(60, || {
            flush();
            std::thread::sleep(std::time::Duration::from_millis(300));
            log()
                .lines()
                .filter(ours)
                .any(|l| l.contains("status=sent"))
        }),
        "Postfix did not deliver again: {}",
        log()
    );
    flush();
    let tickets = sb.json(&["tickets", "--json"]);
    let all = tickets.as_array().unwrap();
    assert_eq!(all.len(), 1, "{tickets}");
    assert_eq!(all[0]["queue"], "billing", "{tickets}");
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(&bin);
}
