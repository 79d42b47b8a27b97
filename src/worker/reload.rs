//! Hot reload of the rules: the rules directory (with its `lists/`) is
//! watched; a change is loaded and checked in full, and only a rule set
//! without errors replaces the one in force. A bad edit is logged with every
//! error and changes nothing.

use crate::pipeline::Engine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Edits come in bursts (an editor writes, renames, touches): wait this
/// long after the last event before loading.
const SETTLE: Duration = Duration::from_millis(150);

pub async fn watch_rules(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    use notify::{RecursiveMode, Watcher};
    let dir = engine.cfg.rules_dir.clone();
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.as_ref().is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the rules directory; rule edits need a restart");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::Recursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the rules directory; rule edits need a restart");
        return;
    }
    tracing::info!(dir = %dir.display(), rules = engine.rules().rules.len(), "watching rules for changes");
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            got = rx.recv() => if got.is_none() { return },
        }
        // Let the burst settle.
        while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
        let e = engine.clone();
        let result = tokio::task::spawn_blocking(move || e.reload_rules()).await;
        match result {
            Ok(Ok(n)) => tracing::info!(rules = n, "rules reloaded"),
            Ok(Err(errors)) => tracing::error!(
                kept = engine.rules().rules.len(),
                "rules not reloaded, the previous rules stay in force:\n{errors}"
            ),
            Err(e) => tracing::error!(error = %e, "rules reload failed"),
        }
    }
}
