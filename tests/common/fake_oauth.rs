//! An OAuth2 authorization server on 127.0.0.1:18089 for the test mail
//! stack: the token endpoint (refresh tokens rotated on every use, as
//! Microsoft does; client credentials; the device code flow) and the
//! introspection endpoint Dovecot's `oauth2` passdb asks about each
//! token (tests/mailstack/mailstack.sh points Dovecot at it). One per test
//! process, started by the first test that needs it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const PORT: u16 = 18089;
pub const CLIENT_ID: &str = "ticketbox-test";
pub const CLIENT_SECRET: &str = "app-secret";

#[derive(Default)]
struct State {
    /// Valid refresh tokens, by token: whose.
    refresh: HashMap<String, String>,
    /// Access tokens: whose, and until when.
    access: HashMap<String, (String, Instant)>,
    /// Device codes waiting for their sign-in: whose, and polls so far.
    devices: HashMap<String, (String, u32)>,
    /// Who signs in on the device page next.
    next_login: Option<String>,
    /// Who the application is, for client credentials.
    app_user: Option<String>,
    ttl: Duration,
    counter: u64,
    /// Refreshes done, by user.
    refreshes: HashMap<String, usize>,
}

pub struct OauthServer {
    state: Arc<Mutex<State>>,
}

impl OauthServer {
    /// The server of this test process (bound on first use).
    pub fn get() -> &'static OauthServer {
        static SERVER: OnceLock<OauthServer> = OnceLock::new();
        SERVER.get_or_init(|| {
            let listener = TcpListener::bind(("127.0.0.1", PORT)).unwrap_or_else(|e| {
                panic!("the fake OAuth2 server cannot bind 127.0.0.1:{PORT}: {e}")
            });
            let state = Arc::new(Mutex::new(State {
                ttl: Duration::from_secs(3600),
                ..State::default()
            }));
            let s = state.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let s = s.clone();
                    std::thread::spawn(move || serve(stream, &s));
                }
            });
            OauthServer { state }
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// `user` is who signs in at the next device code.
    pub fn sign_in_next(&self, user: &str) {
        self.with(|s| s.next_login = Some(user.to_owned()));
    }

    /// Client credentials act as `user`.
    pub fn app_is(&self, user: &str) {
        self.with(|s| s.app_user = Some(user.to_owned()));
    }

    /// How long access tokens issued from now on live.
    pub fn access_ttl(&self, ttl: Duration) {
        self.with(|s| s.ttl = ttl);
    }

    /// Revokes every refresh and access token of `user` (an admin
    /// disabling the sign-in, a password change).
    pub fn revoke(&self, user: &str) {
        self.with(|s| {
            s.refresh.retain(|_, u| u != user);
            s.access.retain(|_, (u, _)| u != user);
        });
    }

    pub fn refreshes(&self, user: &str) -> usize {
        self.with(|s| s.refreshes.get(user).copied().unwrap_or(0))
    }

    /// Whether `token` is a refresh token the server still accepts.
    pub fn refresh_valid(&self, token: &str) -> bool {
        self.with(|s| s.refresh.contains_key(token))
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut w = stream;
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let form = decode_form(&String::from_utf8_lossy(&body));
    let (status, json) = answer(&path, &form, &mut state.lock().unwrap());
    let text = json.to_string();
    let _ = write!(
        w,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        if status == 200 { "OK" } else { "Bad Request" },
        text.len()
    );
}

fn error(code: &str, description: &str) -> (u16, serde_json::Value) {
    (
        400,
        serde_json::json!({ "error": code, "error_description": description }),
    )
}

fn issue(s: &mut State, user: &str, with_refresh: bool) -> (u16, serde_json::Value) {
    s.counter += 1;
    let access = format!("at-{}-{}", s.counter, user.len());
    s.access
        .insert(access.clone(), (user.to_owned(), Instant::now() + s.ttl));
    let mut v = serde_json::json!({
        "token_type": "Bearer",
        "access_token": access,
        "expires_in": s.ttl.as_secs(),
    });
    if with_refresh {
        let refresh = format!("rt-{}-{}", s.counter, user.len());
        s.refresh.insert(refresh.clone(), user.to_owned());
        v["refresh_token"] = refresh.into();
    }
    (200, v)
}

fn answer(path: &str, form: &HashMap<String, String>, s: &mut State) -> (u16, serde_json::Value) {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    match path {
        "/introspect" => {
            let now = Instant::now();
            match s.access.get(get("token")) {
                Some((user, until)) if *until > now => {
                    (200, serde_json::json!({ "active": true, "username": user }))
                }
                _ => (200, serde_json::json!({ "active": false })),
            }
        }
        "/devicecode" => {
            if get("client_id") != CLIENT_ID {
                return error("invalid_client", "unknown client");
            }
            let Some(user) = s.next_login.take() else {
                return error("invalid_request", "nobody is set to sign in");
            };
            s.counter += 1;
            let code = format!("dc-{}", s.counter);
            s.devices.insert(code.clone(), (user, 0));
            (
                200,
                serde_json::json!({
                    "device_code": code,
                    "user_code": format!("TB-{}", s.counter),
                    "verification_uri": format!("http://127.0.0.1:{PORT}/device"),
                    "expires_in": 60,
                    "interval": 1,
                }),
            )
        }
        "/token" => match get("grant_type") {
            "urn:ietf:params:oauth:grant-type:device_code" => {
                let Some((user, polls)) = s.devices.get_mut(get("device_code")) else {
                    return error("expired_token", "unknown device code");
                };
                // The person takes a moment to sign in.
                *polls += 1;
                if *polls < 2 {
                    return error("authorization_pending", "waiting for the sign-in");
                }
                let user = user.clone();
                s.devices.remove(get("device_code"));
                issue(s, &user, true)
            }
            "refresh_token" => {
                // Rotation: the token is spent, a new one comes back.
                match s.refresh.remove(get("refresh_token")) {
                    Some(user) => {
                        *s.refreshes.entry(user.clone()).or_default() += 1;
                        issue(s, &user, true)
                    }
                    None => error(
                        "invalid_grant",
                        "AADSTS70000: The provided refresh token was revoked or has expired.",
                    ),
                }
            }
            "client_credentials" => {
                if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
                    return error(
                        "invalid_client",
                        "AADSTS7000215: Invalid client secret provided.",
                    );
                }
                match s.app_user.clone() {
                    Some(user) => issue(s, &user, false),
                    None => error("unauthorized_client", "no application identity"),
                }
            }
            other => error("unsupported_grant_type", other),
        },
        _ => (404, serde_json::json!({ "error": "not_found" })),
    }
}

fn decode_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((unescape(k), unescape(v)))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
