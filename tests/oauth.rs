//! OAuth2 against the real Dovecot and Postfix, whose `oauth2` passdb asks
//! the fake authorization server (tests/common/fake_oauth.rs) about each
//! token: `ticketbox oauth login` (device code flow), IMAP with XOAUTH2
//! and OAUTHBEARER, SMTP with XOAUTH2; an access token that expires in
//! the middle of the run is refreshed and the rotated refresh token kept;
//! a revoked refresh token fails that mailbox with the provider's words
//! and an alarm while the other mailbox goes on.

mod common;

use common::Sandbox;
use common::fake_oauth::{self, OauthServer};
use common::mailstack::{self, Mailstack, fresh_address, smtp_send, wait_for};
use serde_json::Value;
use std::time::Duration;

/// The fake server's sign-in and app user are one per process: the tests
/// that set them run one at a time (in parallel, one test's login could
/// take the user another test set).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn client(name: &str, mechanism: &str) -> String {
    format!(
        "[oauth.{name}]\nprovider = \"custom\"\nclient_id = \"{id}\"\nmechanism = \"{mechanism}\"\n\
         token_url = \"http://127.0.0.1:{port}/token\"\ndevice_url = \"http://127.0.0.1:{port}/devicecode\"\n\
         scopes = [\"mail\", \"offline_access\"]\n",
        id = fake_oauth::CLIENT_ID,
        port = fake_oauth::PORT
    )
}

fn mailbox(name: &str, user: &str, oauth: &str) -> String {
    format!(
        "[[mailbox]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"plain\"\n\
         allow_plaintext = true\nuser = \"{user}\"\noauth = \"{oauth}\"\n",
        port = mailstack::IMAP_PORT
    )
}

/// Support at `support` (and `alias`), sending through Postfix as
/// `support` with client `smtp_client`'s token.
fn sending(stack: &Mailstack, support: &str, alias: &str, smtp_client: &str) -> String {
    format!(
        r#"
[support]
address = "{support}"
name = "OAuth Support"
aliases = ["{alias}"]

[outbox]
transport = "smtp"
retry_base_seconds = 1

[smtp]
host = "127.0.0.1"
port = {smtp}
tls = "starttls"
ca_file = {ca:?}
user = "{support}"
oauth = "{smtp_client}"
"#,
        smtp = mailstack::SMTP_PORT,
        ca = stack.ca_file(),
    )
}

fn config(stack: &Mailstack, support: &str, other: &str, admin: &str) -> String {
    format!(
        r#"{sending}
[health]
alarm_to = ["{admin}"]
failing_after_seconds = 2

{xo}
{bearer}
{m1}
{m2}
"#,
        sending = sending(stack, support, other, "xo"),
        xo = client("xo", "xoauth2"),
        bearer = client("bearer", "oauthbearer"),
        m1 = mailbox("support", support, "xo"),
        m2 = mailbox("other", other, "bearer"),
    )
}

fn login(sb: &Sandbox, name: &str) -> String {
    let out = sb.command(&["oauth", "login", name]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "oauth login {name}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn request(customer: &str, to: &str, n: u32) -> Vec<u8> {
    format!(
        "From: Customer <{customer}>\r\nTo: {to}\r\nSubject: OAuth question {n}\r\n\
         Message-ID: <oauth-{n}-{}@customer.example>\r\n\r\nHello, question {n}.\r\n",
        std::process::id()
    )
    .into_bytes()
}

fn acks(stack: &Mailstack, customer: &str) -> usize {
    stack
        .inbox(customer)
        .iter()
        .filter(|m| m.contains("Auto-Submitted: auto-replied"))
        .count()
}

fn saved_refresh(sb: &Sandbox, client: &str, user: &str) -> String {
    let path = sb
        .path("data")
        .join("oauth")
        .join(client)
        .join(format!("{user}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["refresh_token"].as_str().unwrap().to_owned()
}

#[test]
fn mailboxes_and_smtp_log_in_with_tokens_that_refresh_and_a_revoked_one_raises_an_alarm() {
    let _serial = one_at_a_time();
    let Some(stack) = mailstack::mailstack() else {
        return;
    };
    let server = OauthServer::get();
    let support = fresh_address("oauth-support");
    let other = fresh_address("oauth-other");
    let admin = fresh_address("oauth-admin");
    let sb = Sandbox::new(&config(&stack, &support, &other, &admin));

    // Before any sign-in, the mailbox says what to do.
    let check = sb.command(&["oauth", "login", "nosuch"]).output().unwrap();
    assert!(String::from_utf8_lossy(&check.stderr).contains("no [[mailbox]] named \"nosuch\""));

    // Access tokens live 3 s: the run outlives several, and each login
    // needs a fresh one (refreshed a minute ahead of expiry).
    server.access_ttl(Duration::from_secs(3));
    // The first sign-in, by device code: a URL and a code are printed.
    server.sign_in_next(&support);
    let said = login(&sb, "support");
    assert!(said.contains("/device") && said.contains("TB-"), "{said}");
    server.sign_in_next(&other);
    login(&sb, "other");
    let token_file = sb.path("data/oauth/xo").join(format!("{support}.json"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first_refresh = saved_refresh(&sb, "xo", &support);

    let worker = sb.start_worker(&[]);
    let customer = fresh_address("oauth-customer");
    smtp_send(&customer, &[&support], &request(&customer, &support, 1));
    assert!(
        wait_for(40, || acks(&stack, &customer) == 1),
        "no acknowledgement through XOAUTH2 IMAP and SMTP: {}",
        sb.worker_log()
    );
    assert!(
        postfix_says(
            &stack,
            &format!("sasl_method=XOAUTH2, sasl_username={support}")
        ),
        "Postfix saw no XOAUTH2 login"
    );
    // The OAUTHBEARER mailbox reads too.
    let second = fresh_address("oauth-customer");
    smtp_send(&second, &[&other], &request(&second, &other, 2));
    assert!(
        wait_for(40, || acks(&stack, &second) == 1),
        "no acknowledgement for mail to the OAUTHBEARER mailbox: {}",
        sb.worker_log()
    );

    // Past the access token's life: SMTP's next login refreshes it, and
    // the rotated refresh token is the one kept (the old one is spent).
    std::thread::sleep(Duration::from_secs(4));
    let third = fresh_address("oauth-customer");
    smtp_send(&third, &[&support], &request(&third, &support, 3));
    assert!(
        wait_for(40, || acks(&stack, &third) == 1),
        "no acknowledgement after the token expired: {}",
        sb.worker_log()
    );
    assert!(server.refreshes(&support) >= 1, "never refreshed");
    let kept = saved_refresh(&sb, "xo", &support);
    assert_ne!(kept, first_refresh, "the rotated refresh token is kept");
    assert!(server.refresh_valid(&kept));
    assert!(!server.refresh_valid(&first_refresh));

    // The other mailbox's sign-in is revoked; its connection dropped, it
    // must log in again and cannot.
    server.revoke(&other);
    std::thread::sleep(Duration::from_secs(4));
    let kicked = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(stack.root.join("dovecot/dovecot.conf"))
        .args(["kick", &other])
        .status()
        .unwrap();
    assert!(kicked.success());
    let alarm = |m: &String| m.contains("Subject: ticketbox alarm: mailbox:other has been failing");
    assert!(
        wait_for(40, || stack
            .inbox(&admin)
            .iter()
            .filter(|m| alarm(m))
            .count()
            == 1),
        "no alarm for the revoked mailbox: {:?}\n{}",
        stack.inbox(&admin),
        sb.worker_log()
    );
    let text = stack.inbox(&admin).into_iter().find(alarm).unwrap();
    assert!(text.contains("(token)"), "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(
        text.contains("ticketbox oauth login mailbox:other"),
        "{text}"
    );
    let status = sb.json(&["status", "--json"]);
    let o = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "mailbox:other")
        .unwrap();
    assert_eq!(o["problem"], "token", "{status}");
    assert!(
        o["last_error"].as_str().unwrap().contains("AADSTS70000"),
        "{status}"
    );

    // The support mailbox goes on meanwhile.
    let fourth = fresh_address("oauth-customer");
    smtp_send(&fourth, &[&support], &request(&fourth, &support, 4));
    assert!(
        wait_for(40, || acks(&stack, &fourth) == 1),
        "the healthy mailbox stopped too: {}",
        sb.worker_log()
    );
    // No token in the log.
    let log = sb.worker_log();
    assert!(!log.contains(&kept), "a refresh token in the log");
    assert!(!log.contains("at-"), "an access token in the log");
    assert!(worker.stop().success());
}

#[test]
fn an_app_only_client_needs_no_sign_in_and_a_wrong_secret_is_named() {
    let _serial = one_at_a_time();
    let server = OauthServer::get();
    let user = "shared-box@example.test";
    server.app_is(user);
    let secret_ok = format!(
        "[oauth.app]\nprovider = \"custom\"\nclient_id = \"{}\"\nflow = \"client_credentials\"\n\
         client_secret_env = \"TB_APP_SECRET\"\ntoken_url = \"http://127.0.0.1:{}/token\"\n\
         scopes = [\"mail\"]\n{}",
        fake_oauth::CLIENT_ID,
        fake_oauth::PORT,
        mailbox("shared", user, "app")
    );
    let sb = Sandbox::new(&secret_ok);
    let out = sb
        .command(&["oauth", "login", "shared"])
        .env("TB_APP_SECRET", fake_oauth::CLIENT_SECRET)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("app-only token for shared-box@example.test"),
        "{text}"
    );
    let wrong = Sandbox::new(&secret_ok);
    let out = wrong
        .command(&["oauth", "login", "shared"])
        .env("TB_APP_SECRET", "not-it")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("invalid_client") && err.contains("AADSTS7000215"),
        "{err}"
    );
    assert!(!err.contains("not-it"), "the secret in an error: {err}");
}

#[test]
fn smtp_with_oauthbearer_and_a_shared_mailbox_read_with_an_app_only_token() {
    let _serial = one_at_a_time();
    let Some(stack) = mailstack::mailstack() else {
        return;
    };
    let server = OauthServer::get();
    let support = fresh_address("oauth-bearer-support");
    let shared = fresh_address("oauth-shared");
    server.app_is(&shared);
    let cfg = format!(
        r#"{sending}
{bearer}
[oauth.app]
provider = "custom"
client_id = "{id}"
flow = "client_credentials"
client_secret_env = "TB_APP_SECRET"
token_url = "http://127.0.0.1:{port}/token"
scopes = ["mail"]

{shared_box}
"#,
        sending = sending(&stack, &support, &shared, "bearer"),
        bearer = client("bearer", "oauthbearer"),
        id = fake_oauth::CLIENT_ID,
        port = fake_oauth::PORT,
        shared_box = mailbox("shared", &shared, "app"),
    );
    let sb = Sandbox::new(&cfg);
    server.sign_in_next(&support);
    login(&sb, "smtp");
    let mut worker = sb.command(&["run"]);
    let log = std::fs::File::create(sb.path("worker.log")).unwrap();
    let mut child = worker
        .env("TB_APP_SECRET", fake_oauth::CLIENT_SECRET)
        .env("RUST_LOG", "info")
        .stderr(log)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let customer = fresh_address("oauth-customer");
    smtp_send(&customer, &[&shared], &request(&customer, &shared, 5));
    let got = wait_for(40, || acks(&stack, &customer) == 1);
    // SIGTERM: a clean stop.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(
        got,
        "no acknowledgement (IMAP app-only XOAUTH2, SMTP OAUTHBEARER): {}",
        sb.worker_log()
    );
    assert!(
        postfix_says(
            &stack,
            &format!("sasl_method=OAUTHBEARER, sasl_username={support}")
        ),
        "Postfix saw no OAUTHBEARER login"
    );
}

/// Whether Postfix's log has `needle` (its smtpd logs each AUTH's method).
fn postfix_says(stack: &Mailstack, needle: &str) -> bool {
    std::fs::read_to_string(stack.root.join("log/postfix.log"))
        .unwrap_or_default()
        .contains(needle)
}
