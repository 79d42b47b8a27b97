//! Bringing a store written by an earlier release up to this one's layout,
//! one schema step at a time, each step one group of writes applied all
//! or none (see `journal.rs`): a crash during a migration leaves the old
//! layout whole or the new one complete.

use super::journal::{Group, T};
use super::{SledStore, state_key};
use crate::model::{CustomerPrefs, QueueStats};
use crate::store::{Checkpoint, Result, State};

/// Schema 1 → 2: checkpoints (`imap:<source>` = `validity:last`), queue
/// statistics (`stats:<queue>`, JSON) and customer preferences
/// (`customer:<address>`, JSON) move from strings among the named values
/// into the typed `state` tree. A value that does not read is dropped
/// with the rest of its key, as schema 1 read it: as nothing.
pub(super) fn typed_state(store: &SledStore) -> Result<()> {
    let mut moved = Vec::new();
    for kv in store.meta.iter() {
        let (k, v) = kv?;
        let (Ok(key), Ok(value)) = (std::str::from_utf8(&k), std::str::from_utf8(&v)) else {
            continue;
        };
        let state = if let Some(source) = key.strip_prefix("imap:") {
            value.split_once(':').and_then(|(a, b)| {
                Some(State::Checkpoint {
                    source: source.to_owned(),
                    at: Checkpoint {
                        validity: a.parse().ok()?,
                        last: b.parse().ok()?,
                    },
                })
            })
        } else if let Some(queue) = key.strip_prefix("stats:") {
            serde_json::from_str::<QueueStats>(value)
                .ok()
                .map(|stats| State::QueueStats {
                    queue: queue.to_owned(),
                    stats,
                })
        } else if let Some(address) = key.strip_prefix("customer:") {
            serde_json::from_str::<CustomerPrefs>(value)
                .ok()
                .map(|prefs| State::Prefs {
                    address: address.to_owned(),
                    prefs,
                })
        } else {
            continue;
        };
        let encoded = state
            .as_ref()
            .map(|st| (state_key(&st.key()), super::enc(st)));
        moved.push((k.to_vec(), encoded));
    }
    let mut g = Group::default();
    for (old, new) in &moved {
        if let Some((k, v)) = new {
            g.put(T::State, k, v);
        }
        g.remove(T::Meta, old);
    }
    g.put(T::Meta, b"schema_version", b"2");
    let _turn = store.writing();
    store.apply_group(&g)?;
    store.db.flush()?;
    tracing::info!(
        moved = moved.len(),
        "store migrated to schema 2 (typed state)"
    );
    Ok(())
}
