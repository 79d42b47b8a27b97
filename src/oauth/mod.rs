//! OAuth2 access tokens for IMAP and SMTP (Microsoft 365, Gmail, any RFC
//! 6749 server), kept fresh without a person.
//!
//! A person signs in once with `ticketbox oauth login` (the device code
//! flow, RFC 8628: a URL and a code to type on any device); from then on
//! [`access`] trades the refresh token for access tokens a minute before
//! they expire. Microsoft issues a new refresh token with each refresh and
//! retires the old one soon after, which is how osTicket's users lost mail
//! for days (osTicket#6455): here the new one is on disk (written whole,
//! synced, mode 0600) before the access token it came with is used. The
//! `client_credentials` flow (Microsoft app-only) needs no person and no
//! refresh token.
//!
//! Tokens live in `<data_dir>/oauth/<client>/<user>.json`. A failure says
//! what the provider said (`invalid_grant: AADSTS70000 …`), so the alarm
//! an admin gets names the cause.

pub mod sasl;

use crate::config::{Flow, OauthCfg, SecretError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Refreshed this long before it expires, so a token never runs out in the
/// middle of a login.
const AHEAD: i64 = 60;
/// Each call to the provider.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum OauthError {
    #[error(
        "no OAuth2 token for {user} yet (client {client}): sign in once with `ticketbox oauth login {mailbox}`"
    )]
    NoLogin {
        client: String,
        user: String,
        mailbox: String,
    },
    /// The provider refused: its error code and description.
    #[error("the OAuth2 provider refused ({status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        status: u16,
        error: String,
        description: Option<String>,
    },
    #[error("reaching the OAuth2 provider at {url}: {message}")]
    Http { url: String, message: String },
    #[error("the OAuth2 provider's answer is not what RFC 6749 says: {0}")]
    Answer(String),
    #[error("token file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("client secret: {0}")]
    Secret(#[from] SecretError),
    #[error("the sign-in was not completed: {0}")]
    Login(String),
}

/// Logging in with an OAuth2 client's token instead of a password.
#[derive(Debug, Clone)]
pub struct Login {
    pub cfg: OauthCfg,
    /// The client's name in the config (`[oauth.<name>]`).
    pub client: String,
    /// Where the tokens are kept.
    pub data_dir: PathBuf,
}

impl Login {
    /// The login of a mailbox or SMTP server whose `oauth` names `name`.
    pub fn named(cfg: &crate::config::Config, name: Option<&str>) -> Option<Login> {
        let name = name?;
        Some(Login {
            cfg: cfg.oauth.get(name)?.clone(),
            client: name.to_owned(),
            data_dir: cfg.data_dir.clone(),
        })
    }

    /// An access token for `user` (see [`access`]); blocking.
    pub fn token(&self, user: &str, used_by: &str) -> Result<String, OauthError> {
        access(&self.cfg, &self.client, user, used_by, &self.data_dir)
    }
}

/// What is kept for one user of one client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the refresh token last changed (rotation), for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// Where client `client`'s tokens for `user` are kept.
pub fn token_path(data_dir: &Path, client: &str, user: &str) -> PathBuf {
    // The user is an address: safe as a file name once the separators
    // that could climb out of the directory are gone.
    let file: String = user
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    data_dir
        .join("oauth")
        .join(client)
        .join(format!("{}.json", file.trim_start_matches('.')))
}

/// One lock per token file in this process: IMAP and SMTP of one user
/// must not both spend the same refresh token (the second would be
/// refused once the first rotated it).
fn file_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut all = LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    all.entry(path.to_path_buf()).or_default().clone()
}

pub fn load(path: &Path) -> Result<Option<Saved>, OauthError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| OauthError::File {
                path: path.display().to_string(),
                source: std::io::Error::other(e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(OauthError::File {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `saved` whole or not at all: a temporary file (0600), synced,
/// renamed over the old one, the directory synced.
pub fn save(path: &Path, saved: &Saved) -> Result<(), OauthError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| OauthError::File {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(saved).map_err(|e| err(std::io::Error::other(e)))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(&text).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

/// A token endpoint's answer (RFC 6749 §5.1, §5.2).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        // 400 carries the provider's reason; it is read, not thrown.
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `form` to `url`; the status and the JSON answer.
fn post(url: &str, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value), OauthError> {
    let http = |message: String| OauthError::Http {
        url: url.to_owned(),
        message,
    };
    let mut resp = agent()
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| http(e.to_string()))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| http(e.to_string()))?;
    let json = serde_json::from_str(&text).map_err(|_| {
        OauthError::Answer(format!(
            "HTTP {status}, not JSON: {}",
            crate::text::one_line(&text, 200)
        ))
    })?;
    Ok((status, json))
}

fn refused(status: u16, a: &TokenAnswer) -> OauthError {
    OauthError::Provider {
        status,
        error: a.error.clone().unwrap_or_else(|| format!("HTTP {status}")),
        description: a
            .error_description
            .as_deref()
            .map(|d| crate::text::one_line(d, 300)),
    }
}

/// Asks the token endpoint; the answer kept (the refresh token rotated
/// when a new one came) and saved before it is returned.
fn ask(
    cfg: &OauthCfg,
    path: &Path,
    user: &str,
    old: Option<&Saved>,
    form: &[(&str, &str)],
) -> Result<Saved, OauthError> {
    let url = cfg.token_url();
    let (status, json) = post(&url, form)?;
    let answer: TokenAnswer =
        serde_json::from_value(json).map_err(|e| OauthError::Answer(e.to_string()))?;
    let Some(access) = answer.access_token.clone().filter(|_| status == 200) else {
        return Err(refused(status, &answer));
    };
    let now = Utc::now();
    let rotated = answer.refresh_token.is_some();
    let saved = Saved {
        refresh_token: answer
            .refresh_token
            .or_else(|| old.and_then(|o| o.refresh_token.clone())),
        access_token: Some(access),
        expires_at: Some(now + chrono::Duration::seconds(answer.expires_in.unwrap_or(3600))),
        refreshed_at: if rotated {
            Some(now)
        } else {
            old.and_then(|o| o.refreshed_at)
        },
    };
    for t in [&saved.access_token, &saved.refresh_token]
        .into_iter()
        .flatten()
    {
        crate::redact::remember(user, t);
    }
    save(path, &saved)?;
    Ok(saved)
}

/// The client secret, when the client has one (a public client, as
/// device sign-in often uses, has none).
fn client_secret(cfg: &OauthCfg) -> Result<Option<String>, OauthError> {
    if !cfg.secret().is_set() {
        return Ok(None);
    }
    Ok(Some(cfg.secret().read(&cfg.client_id)?))
}

/// An access token for `user` from client `client` (`mailbox` names where
/// it is used, for the message when nobody has signed in yet): the kept
/// one while it has more than a minute left, else a fresh one. Blocking:
/// call it off the async runtime's threads.
pub fn access(
    cfg: &OauthCfg,
    client: &str,
    user: &str,
    mailbox: &str,
    data_dir: &Path,
) -> Result<String, OauthError> {
    let path = token_path(data_dir, client, user);
    let lock = file_lock(&path);
    let _held = lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let old = load(&path)?;
    if let Some(s) = &old
        && let (Some(token), Some(until)) = (&s.access_token, s.expires_at)
        && until - Utc::now() > chrono::Duration::seconds(AHEAD)
    {
        crate::redact::remember(user, token);
        return Ok(token.clone());
    }
    let secret = client_secret(cfg)?;
    let scope = cfg.scopes().join(" ");
    let saved = match cfg.flow {
        Flow::ClientCredentials => {
            let mut form = vec![
                ("grant_type", "client_credentials"),
                ("client_id", cfg.client_id.as_str()),
                ("scope", scope.as_str()),
            ];
            if let Some(s) = &secret {
                form.push(("client_secret", s));
            }
            ask(cfg, &path, user, old.as_ref(), &form)?
        }
        Flow::Refresh => {
            let Some(refresh) = old.as_ref().and_then(|s| s.refresh_token.clone()) else {
                return Err(OauthError::NoLogin {
                    client: client.to_owned(),
                    user: user.to_owned(),
                    mailbox: mailbox.to_owned(),
                });
            };
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", cfg.client_id.as_str()),
                ("scope", scope.as_str()),
            ];
            if let Some(s) = &secret {
                form.push(("client_secret", s));
            }
            ask(cfg, &path, user, old.as_ref(), &form)?
        }
    };
    saved
        .access_token
        .ok_or_else(|| OauthError::Answer("no access_token".into()))
}

/// The first sign-in, by the device code flow (RFC 8628): prints where to
/// go and the code to type, waits while the person signs in, and keeps
/// the tokens. For `client_credentials` there is nobody to sign in: it
/// fetches a token to show the setup works.
pub fn login(
    cfg: &OauthCfg,
    client: &str,
    user: &str,
    data_dir: &Path,
    out: &mut dyn std::io::Write,
) -> Result<(), OauthError> {
    let path = token_path(data_dir, client, user);
    if cfg.flow == Flow::ClientCredentials {
        access(cfg, client, user, user, data_dir)?;
        let _ = writeln!(
            out,
            "client {client} has an app-only token for {user}; nobody needs to sign in"
        );
        return Ok(());
    }
    let scope = cfg.scopes().join(" ");
    let url = cfg.device_url();
    if url.is_empty() {
        return Err(OauthError::Login(format!(
            "oauth.{client}.device_url is not set, and the provider has none by default"
        )));
    }
    let (status, start) = post(
        &url,
        &[
            ("client_id", cfg.client_id.as_str()),
            ("scope", scope.as_str()),
        ],
    )?;
    let field = |k: &str| start.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(device_code), Some(user_code)) = (field("device_code"), field("user_code")) else {
        let answer: TokenAnswer =
            serde_json::from_value(start.clone()).map_err(|e| OauthError::Answer(e.to_string()))?;
        return Err(refused(status, &answer));
    };
    // Google says verification_url, RFC 8628 verification_uri.
    let page = field("verification_uri")
        .or_else(|| field("verification_url"))
        .unwrap_or_default();
    let mut interval = start.get("interval").and_then(|v| v.as_u64()).unwrap_or(5);
    let expires = start
        .get("expires_in")
        .and_then(|v| v.as_u64())
        .unwrap_or(900);
    let _ = writeln!(
        out,
        "To let ticketbox read and send as {user}, open\n  {page}\nand enter the code\n  {user_code}\n(waiting up to {} minutes)",
        expires / 60
    );
    let _ = out.flush();
    let secret = client_secret(cfg)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(expires);
    loop {
        if std::time::Instant::now() > deadline {
            return Err(OauthError::Login("the code expired before sign-in".into()));
        }
        std::thread::sleep(Duration::from_secs(interval));
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.as_str()),
            ("client_id", cfg.client_id.as_str()),
        ];
        if let Some(s) = &secret {
            form.push(("client_secret", s));
        }
        match ask(cfg, &path, user, None, &form) {
            Ok(saved) if saved.refresh_token.is_some() => break,
            Ok(_) => {
                return Err(OauthError::Login(
                    "signed in, but no refresh token came (ask for offline access in the scopes)"
                        .into(),
                ));
            }
            Err(OauthError::Provider { error, .. }) if error == "authorization_pending" => {}
            Err(OauthError::Provider { error, .. }) if error == "slow_down" => interval += 5,
            Err(e) => return Err(e),
        }
    }
    let _ = writeln!(
        out,
        "signed in: tokens for {user} kept in {} (a running worker uses them at its next login)",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_stay_in_their_directory_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = token_path(dir.path(), "m365", "../../etc/passwd");
        assert!(
            p.starts_with(dir.path().join("oauth/m365")),
            "{}",
            p.display()
        );
        let saved = Saved {
            refresh_token: Some("r1".into()),
            ..Saved::default()
        };
        save(&p, &saved).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            load(&p).unwrap().unwrap().refresh_token.as_deref(),
            Some("r1")
        );
        assert!(load(&dir.path().join("none.json")).unwrap().is_none());
    }
}
