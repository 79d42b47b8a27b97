//! Hot reload of rules and templates: their directories are watched, and
//! SIGHUP asks too (for directories on file systems that send no events,
//! and for service managers: `systemctl reload`); a change is loaded and
//! checked in full, and only a set without errors replaces the one in
//! force. A bad edit is logged with every error and changes nothing.

use crate::pipeline::Engine;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Edits come in bursts (an editor writes, renames, touches): wait this
/// long after the last event before loading.
const SETTLE: Duration = Duration::from_millis(150);

/// What a watched directory holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Rules,
    Templates,
}

impl Kind {
    fn dir(self, engine: &Engine) -> PathBuf {
        match self {
            Kind::Rules => engine.cfg.rules_dir.clone(),
            Kind::Templates => engine.cfg.templates_dir.clone(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Rules => "rules",
            Kind::Templates => "templates",
        }
    }

    /// Loads and installs; Ok(count) or every error as text.
    fn reload(self, engine: &Engine) -> Result<usize, String> {
        match self {
            Kind::Rules => engine.reload_rules().map_err(|e| e.to_string()),
            Kind::Templates => engine.reload_templates().map_err(|errs| {
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
        }
    }
}

pub async fn watch(engine: Arc<Engine>, kind: Kind, mut shutdown: watch::Receiver<bool>) {
    use notify::{RecursiveMode, Watcher};
    let dir = kind.dir(&engine);
    let what = kind.name();
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.as_ref().is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch {what}; edits need a restart");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::Recursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch {what}; edits need a restart");
        return;
    }
    tracing::info!(dir = %dir.display(), "watching {what} for changes");
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            got = rx.recv() => if got.is_none() { return },
        }
        // Let the burst settle.
        while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
        reload(&engine, kind).await;
    }
}

/// Loads `kind` again off the async threads, and says how it went.
async fn reload(engine: &Arc<Engine>, kind: Kind) {
    let what = kind.name();
    let e = engine.clone();
    let ok = match tokio::task::spawn_blocking(move || kind.reload(&e)).await {
        Ok(Ok(n)) => {
            tracing::info!(count = n, "{what} reloaded");
            true
        }
        Ok(Err(errors)) => {
            tracing::error!("{what} not reloaded, the previous {what} stay in force:\n{errors}");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "{what} reload failed");
            false
        }
    };
    crate::metrics::reloaded(what, ok);
}

/// Reloads rules and templates at each SIGHUP until shutdown.
pub async fn on_hangup(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; rules and templates reload on edits only");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            got = hangup.recv() => if got.is_none() { return },
        }
        tracing::info!("SIGHUP: reloading rules and templates");
        reload(&engine, Kind::Rules).await;
        reload(&engine, Kind::Templates).await;
    }
}
