//! This process as the other workers on a shared store see it: the name
//! it holds leases (a mailbox, the timers) and outbox claims under.
//!
//! Several workers may run on one machine and restart with the same pid,
//! so the name is the host, the pid and when the process started: a
//! restarted worker is a new holder, and what its previous life held runs
//! out rather than being taken for its own.

use std::sync::OnceLock;

/// `host/pid/start`, made once per process.
pub fn this_process() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default();
        format!("{}/{}/{started:x}", hostname(), std::process::id())
    })
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_is_the_host_the_pid_and_the_start() {
        let name = super::this_process();
        let parts: Vec<&str> = name.split('/').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert!(!parts[0].is_empty());
        assert_eq!(parts[1], std::process::id().to_string());
        assert_eq!(super::this_process(), name, "one name per process");
    }
}
