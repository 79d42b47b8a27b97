//! Running as a service: the systemd unit in examples/ passes
//! `systemd-analyze verify` with its sandbox in place (and the check does
//! fail on a broken unit); SIGHUP makes a running worker reload its rules
//! and templates; the container recipe builds where a container engine
//! runs (`TICKETBOX_SKIP_CONTAINER_BUILD=1` skips it).

mod common;

use common::Sandbox;
use common::mailstack::wait_for;
use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../examples/ticketbox.service");

/// What `systemd-analyze verify` says about `unit` (its warnings), with
/// ExecStart pointed at the binary under test.
fn verify(dir: &Path, name: &str, unit: &str) -> Option<String> {
    let tool = Path::new("/usr/bin/systemd-analyze");
    if !tool.exists() {
        eprintln!("skipped: systemd-analyze is not installed");
        return None;
    }
    let path = dir.join(name);
    std::fs::write(&path, unit.replace("/usr/local/bin/ticketbox", common::BIN)).unwrap();
    let out = Command::new(tool)
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success() || !said.is_empty(), "{out:?}");
    Some(said)
}

#[test]
fn the_unit_is_sandboxed_and_verifies() {
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/ticketbox",
        "User=ticketbox",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "CapabilityBoundingSet=",
    ] {
        assert!(UNIT.lines().any(|l| l == line), "no {line}");
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(said) = verify(dir.path(), "ticketbox.service", UNIT) else {
        return;
    };
    assert_eq!(said.trim(), "", "systemd-analyze verify: {said}");
    // The check sees mistakes: a misspelt key and a bad value.
    let broken = UNIT
        .replace("NoNewPrivileges=yes", "NoNewPrivilegs=yes")
        .replace("ProtectSystem=strict", "ProtectSystem=strikt");
    let said = verify(dir.path(), "broken.service", &broken).unwrap();
    assert!(
        said.contains("NoNewPrivilegs") && said.contains("strikt"),
        "{said}"
    );
}

#[test]
fn sighup_reloads_rules_and_templates() {
    let sb = Sandbox::new("");
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(15, || sb.worker_log().contains("watching templates")),
        "{}",
        sb.worker_log()
    );
    let pid = worker.pid();
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        wait_for(15, || {
            let log = sb.worker_log();
            log.contains("SIGHUP: reloading rules and templates")
                && log.contains("rules reloaded")
                && log.contains("templates reloaded")
        }),
        "{}",
        sb.worker_log()
    );
    // Still running, and it stops as ever.
    assert!(worker.stop().success(), "{}", sb.worker_log());
}

#[test]
fn the_container_recipe_builds_where_an_engine_runs() {
    let engine = ["podman", "docker"].into_iter().find(|e| {
        Command::new(e)
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(engine) = engine else {
        eprintln!("skipped: no container engine runs here (podman or docker)");
        return;
    };
    if std::env::var("TICKETBOX_SKIP_CONTAINER_BUILD").as_deref() == Ok("1") {
        eprintln!(
            "skipped: TICKETBOX_SKIP_CONTAINER_BUILD=1 (the build fetches images and compiles for minutes)"
        );
        return;
    }
    let out = Command::new(engine)
        .args([
            "build",
            "-f",
            "examples/Containerfile",
            "-t",
            "ticketbox-test",
            ".",
        ])
        .current_dir(common::REPO)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
