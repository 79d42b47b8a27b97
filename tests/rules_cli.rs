//! The admin's rule tools on the real binary: check, test, replay; and
//! spam / notify actions end to end.

mod common;

use common::{Sandbox, fixture, header};

#[test]
fn check_reports_every_error_and_exits_non_zero() {
    let sb = Sandbox::new("");
    let out = sb.command(&["rules", "check"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all valid"));

    let dir = sb.path("bad-rules");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("10-bad.toml"),
        "[[rule]]\nname = \"a\"\nwhen = { subjct = \"x\" }\nthen = { queue = \"nowhere\" }\n",
    )
    .unwrap();
    let out = sb
        .command(&["rules", "check", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("10-bad.toml:3:10: unknown key `subjct` in `when`; did you mean `subject`?"),
        "{err}"
    );
    assert!(
        err.contains("10-bad.toml:4:18: unknown queue \"nowhere\""),
        "{err}"
    );
    assert!(err.contains("2 errors"), "{err}");
}

#[test]
fn test_explains_each_rule_and_the_decision() {
    let sb = Sandbox::new("");
    let msg = sb.path("m.eml");
    std::fs::write(&msg, fixture("polish-iso-8859-2.eml")).unwrap();
    let v = sb.json(&["rules", "test", msg.to_str().unwrap(), "--json"]);
    assert_eq!(v["language"], "pl");
    assert_eq!(v["decision"]["queue"], "billing");
    assert_eq!(v["decision"]["priority"], "high");
    let rules = v["rules"].as_array().unwrap();
    let billing = rules
        .iter()
        .find(|r| r["name"] == "billing questions go to billing")
        .unwrap();
    assert_eq!(billing["matched"], true);
    let vip = rules.iter().find(|r| r["name"] == "vip customers").unwrap();
    assert_eq!(vip["matched"], false);
    assert_eq!(vip["why"], "from_domain in list \"vip-domains\"");
    // Nothing was stored by the dry run: there is not even a store, and
    // looking says so rather than making one.
    assert!(!sb.path("data").exists());
    let out = sb.command(&["tickets"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no data directory at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!sb.path("data").exists());

    let text = String::from_utf8(sb.run(&["rules", "test", msg.to_str().unwrap()]).stdout).unwrap();
    assert!(
        text.contains("MATCH  billing questions go to billing"),
        "{text}"
    );
    assert!(text.contains("queue     billing"), "{text}");
}

#[test]
fn replay_shows_what_an_edit_would_change() {
    let sb = Sandbox::new("");
    let rules = sb.own_rules();
    let dir = sb.path("in");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.eml"), fixture("english-new.eml")).unwrap();
    std::fs::write(dir.join("b.eml"), fixture("polish-windows-1250.eml")).unwrap();
    sb.run(&["ingest", dir.to_str().unwrap()]);

    let v = sb.json(&["rules", "test", "--replay", "--json"]);
    assert_eq!(v["tickets"], 2);
    assert!(v["changed"].as_array().unwrap().is_empty(), "{v:#}");

    // An edit: printers become technical and urgent.
    std::fs::write(
        rules.join("40-printers.toml"),
        "[[rule]]\nname = \"printers\"\nwhen = { subject = \"printer\" }\nthen = { queue = \"technical\", priority = \"urgent\" }\n",
    )
    .unwrap();
    let v = sb.json(&["rules", "test", "--replay", "--json"]);
    let changed = v["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{v:#}");
    assert_eq!(changed[0]["ticket"], 1000);
    let lines: Vec<&str> = changed[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(lines.contains(&"queue: general → technical"), "{lines:?}");
    assert!(lines.contains(&"priority: normal → urgent"), "{lines:?}");
    // Replay changed nothing stored.
    let t = sb.json(&["show", "1000", "--json"]);
    assert_eq!(t["queue"], "general");
}

#[test]
fn spam_is_quarantined_and_notify_sends_a_notice() {
    let sb = Sandbox::new("agents = [\"agent@example.com\"]\n");
    let rules = sb.own_rules();
    std::fs::write(
        rules.join("05-extra.toml"),
        "[[rule]]\nname = \"casino spam\"\nwhen = { subject = \"casino\" }\nthen = { spam = true }\n\n\
         [[rule]]\nname = \"printers to the lead\"\nwhen = { subject = \"printer\", kind = \"new\" }\n\
         then = { notify = [\"lead@example.com\"], assign = \"agent@example.com\", fields = { floor = \"3\" } }\n",
    )
    .unwrap();
    let dir = sb.path("in");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.eml"), fixture("english-new.eml")).unwrap();
    std::fs::write(
        dir.join("b.eml"),
        "From: win@casino.example\r\nTo: support@example.com\r\nSubject: CASINO bonus\r\nMessage-ID: <spam1@casino.example>\r\n\r\nWin!\r\n",
    )
    .unwrap();
    let lines = sb.json_lines(&["ingest", "--json", dir.to_str().unwrap()]);
    assert_eq!(lines[1]["outcome"], "quarantined");
    assert_eq!(lines[1]["reason"], "spam (rule \"casino spam\")");
    let q = sb.json(&["quarantine", "--json"]);
    assert_eq!(q[0]["spam_rule"], "casino spam");

    let t = sb.json(&["show", "1000", "--json"]);
    let kinds: Vec<&str> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["customer", "outgoing", "outgoing", "outgoing"],
        "ack, notification to the lead and to the assignee: {t:#}"
    );
    let notice = sb
        .outbox_files()
        .into_iter()
        .find(|f| header(f, "To").is_some_and(|t| t.contains("lead@example.com")))
        .expect("notification written");
    assert_eq!(
        header(&notice, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(
        notice.contains("The printer on the 3rd floor keeps jamming"),
        "{notice}"
    );
    let tickets = sb.json(&["tickets", "--json"]);
    assert_eq!(
        tickets.as_array().unwrap().len(),
        1,
        "spam opened no ticket"
    );
}
