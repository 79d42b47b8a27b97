//! `[lmtp]`: the site's MTA hands mail straight to the running worker over
//! LMTP (RFC 2033) instead of ticketbox fetching it from a mailbox. LMTP
//! has no authentication, so ticketbox listens only where no one else can
//! reach: a unix socket (its mode decides who may write) or a loopback
//! address.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmtpCfg {
    /// Where `ticketbox run` listens: empty (the default) is off;
    /// `127.0.0.1:2424` is a loopback address and port; a path (or
    /// `unix:PATH`) is a unix socket, such as
    /// `/var/spool/postfix/private/ticketbox` for a chrooted Postfix.
    pub listen: String,
    /// Permissions of the unix socket: the MTA's user must be able to
    /// write to it (0o660 with the socket's group the MTA's).
    pub socket_mode: u32,
    /// Sessions served at a time; one more is told to come back (421), and
    /// the MTA does.
    pub max_sessions: usize,
}

impl Default for LmtpCfg {
    fn default() -> Self {
        LmtpCfg {
            listen: String::new(),
            socket_mode: 0o660,
            max_sessions: 64,
        }
    }
}

/// Where the LMTP listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LmtpListen {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl std::fmt::Display for LmtpListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LmtpListen::Unix(p) => write!(f, "unix:{}", p.display()),
            LmtpListen::Tcp(a) => write!(f, "{a}"),
        }
    }
}

impl LmtpCfg {
    /// Where to listen, if anywhere; the error is a sentence for the admin
    /// that starts with the key.
    pub fn listen(&self) -> Result<Option<LmtpListen>, String> {
        let text = self.listen.trim();
        if text.is_empty() {
            return Ok(None);
        }
        // Postfix writes `lmtp:unix:/path`; accept what an admin copies.
        let text = text.strip_prefix("lmtp:").unwrap_or(text);
        if let Some(path) = text.strip_prefix("unix:") {
            return unix(path).map(Some);
        }
        if text.starts_with('/') || text.starts_with('.') {
            return unix(text).map(Some);
        }
        let text = text.strip_prefix("inet:").unwrap_or(text);
        let addr: SocketAddr = text.parse().map_err(|_| {
            format!(
                "lmtp.listen {:?}: expected a loopback address and port (127.0.0.1:2424) or \
                 the path of a unix socket",
                self.listen
            )
        })?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "lmtp.listen {addr}: LMTP has no authentication, so ticketbox listens on a \
                 loopback address (127.0.0.1, ::1) or a unix socket only; an MTA on another \
                 machine relays over SMTP to one on this machine"
            ));
        }
        if addr.port() == 0 {
            return Err(format!(
                "lmtp.listen {addr}: give the port the MTA connects to"
            ));
        }
        Ok(Some(LmtpListen::Tcp(addr)))
    }

    /// Problems with the section, for `config check`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = self.listen() {
            out.push(e);
        }
        if self.socket_mode > 0o777 {
            out.push(format!(
                "lmtp.socket_mode = {:o}: expected permission bits such as 0o660",
                self.socket_mode
            ));
        }
        if self.max_sessions == 0 {
            out.push("lmtp.max_sessions must be at least 1".into());
        }
        out
    }
}

fn unix(path: &str) -> Result<LmtpListen, String> {
    if path.is_empty() {
        return Err("lmtp.listen: the unix socket's path is empty".into());
    }
    Ok(LmtpListen::Unix(PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str) -> LmtpCfg {
        LmtpCfg {
            listen: listen.into(),
            ..LmtpCfg::default()
        }
    }

    #[test]
    fn reads_addresses_and_sockets_the_way_admins_write_them() {
        assert_eq!(cfg("").listen(), Ok(None));
        assert_eq!(
            cfg("127.0.0.1:2424").listen(),
            Ok(Some(LmtpListen::Tcp("127.0.0.1:2424".parse().unwrap())))
        );
        assert_eq!(
            cfg("inet:[::1]:24").listen(),
            Ok(Some(LmtpListen::Tcp("[::1]:24".parse().unwrap())))
        );
        for s in [
            "/var/spool/postfix/private/ticketbox",
            "unix:/var/spool/postfix/private/ticketbox",
            "lmtp:unix:/var/spool/postfix/private/ticketbox",
        ] {
            assert_eq!(
                cfg(s).listen(),
                Ok(Some(LmtpListen::Unix(
                    "/var/spool/postfix/private/ticketbox".into()
                ))),
                "{s}"
            );
        }
    }

    #[test]
    fn refuses_to_listen_where_others_can_reach() {
        let e = cfg("0.0.0.0:2424").listen().unwrap_err();
        assert!(
            e.starts_with("lmtp.listen 0.0.0.0:2424: LMTP has no authentication"),
            "{e}"
        );
        let e = cfg("192.0.2.7:24").listen().unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        let e = cfg("localhost").listen().unwrap_err();
        assert!(e.contains("expected a loopback address and port"), "{e}");
        let e = cfg("127.0.0.1:0").listen().unwrap_err();
        assert!(e.contains("give the port"), "{e}");
        let mut c = cfg("unix:");
        c.socket_mode = 0o1777;
        c.max_sessions = 0;
        assert_eq!(c.problems().len(), 3, "{:?}", c.problems());
    }
}
