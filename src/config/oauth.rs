//! `[oauth.<name>]`: an OAuth2 client that IMAP mailboxes and the SMTP
//! server log in with instead of a password (`oauth = "<name>"`), as
//! Microsoft 365 and Gmail require. The provider fills in its endpoints
//! and scopes; a `custom` provider (or a test harness) gives its own.

use serde::Deserialize;
use std::path::PathBuf;

/// Who issues the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Microsoft 365 / Exchange Online (Entra ID), `tenant` required.
    Microsoft,
    Google,
    /// Any RFC 6749 server: `token_url` (and `device_url` for `oauth
    /// login`) must be given.
    Custom,
}

/// How the client gets its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// A person signs in once (`ticketbox oauth login`, device code);
    /// then refresh tokens, each rotated one kept.
    #[default]
    Refresh,
    /// The application's own identity (Microsoft app-only access with a
    /// client secret): no person, no refresh token.
    ClientCredentials,
}

/// The SASL mechanism for IMAP and SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// Google's and Microsoft's `XOAUTH2`.
    #[default]
    Xoauth2,
    /// RFC 7628 `OAUTHBEARER`.
    Oauthbearer,
}

impl Mechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::Oauthbearer => "OAUTHBEARER",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OauthCfg {
    pub provider: Provider,
    /// Microsoft: the directory (`contoso.onmicrosoft.com` or its id).
    #[serde(default)]
    pub tenant: String,
    pub client_id: String,
    /// The client secret, from the environment or a file (never in the
    /// config); needed by `client_credentials`, optional otherwise.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub flow: Flow,
    #[serde(default)]
    pub mechanism: Mechanism,
    /// Overrides the provider's endpoints (required for `custom`).
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub device_url: String,
    /// Overrides the provider's scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl OauthCfg {
    /// The token endpoint.
    pub fn token_url(&self) -> String {
        if !self.token_url.is_empty() {
            return self.token_url.clone();
        }
        match self.provider {
            Provider::Microsoft => format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                self.tenant
            ),
            Provider::Google => "https://oauth2.googleapis.com/token".into(),
            Provider::Custom => String::new(),
        }
    }

    /// The device authorization endpoint (RFC 8628), for `oauth login`.
    pub fn device_url(&self) -> String {
        if !self.device_url.is_empty() {
            return self.device_url.clone();
        }
        match self.provider {
            Provider::Microsoft => format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/devicecode",
                self.tenant
            ),
            Provider::Google => "https://oauth2.googleapis.com/device/code".into(),
            Provider::Custom => String::new(),
        }
    }

    /// The scopes asked for: IMAP and SMTP, and a refresh token.
    pub fn scopes(&self) -> Vec<String> {
        if !self.scopes.is_empty() {
            return self.scopes.clone();
        }
        match (self.provider, self.flow) {
            (Provider::Microsoft, Flow::Refresh) => vec![
                "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
                "https://outlook.office.com/SMTP.Send".into(),
                "offline_access".into(),
            ],
            // App-only: the application's permissions, granted by an admin.
            (Provider::Microsoft, Flow::ClientCredentials) => {
                vec!["https://outlook.office365.com/.default".into()]
            }
            (Provider::Google, _) => vec!["https://mail.google.com/".into()],
            (Provider::Custom, _) => Vec::new(),
        }
    }

    pub fn secret(&self) -> crate::config::Secret {
        crate::config::Secret {
            password_env: self.client_secret_env.clone(),
            password_file: self.client_secret_file.clone(),
        }
    }

    /// What is wrong with client `name`, for `config check`.
    pub fn problems(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let at = format!("oauth.{name}");
        if self.client_id.trim().is_empty() {
            out.push(format!(
                "{at}.client_id: the application (client) id is missing"
            ));
        }
        if self.provider == Provider::Microsoft && self.tenant.trim().is_empty() {
            out.push(format!(
                "{at}.tenant: Microsoft needs the directory, e.g. \"contoso.onmicrosoft.com\""
            ));
        }
        if self.provider == Provider::Custom && self.token_url.is_empty() {
            out.push(format!(
                "{at}.token_url: a custom provider needs its token endpoint"
            ));
        }
        if self.flow == Flow::ClientCredentials && !self.secret().is_set() {
            out.push(format!(
                "{at}: flow = \"client_credentials\" needs client_secret_env or client_secret_file"
            ));
        }
        for (key, url) in [
            ("token_url", self.token_url()),
            ("device_url", self.device_url()),
        ] {
            if !url.is_empty() && !secure_url(&url) {
                out.push(format!(
                    "{at}.{key} {url:?}: tokens travel over https only (http to a loopback \
                     address is allowed, for a local test server)"
                ));
            }
        }
        out
    }
}

/// https anywhere, or http to this machine.
fn secure_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> OauthCfg {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn providers_fill_in_endpoints_and_scopes() {
        let m = parse(
            "provider = \"microsoft\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"abc\"\n",
        );
        assert_eq!(
            m.token_url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(m.scopes().contains(&"offline_access".to_string()));
        assert!(m.problems("m365").is_empty(), "{:?}", m.problems("m365"));
        let g = parse("provider = \"google\"\nclient_id = \"abc\"\nmechanism = \"oauthbearer\"\n");
        assert_eq!(g.scopes(), ["https://mail.google.com/"]);
        assert_eq!(g.mechanism.as_str(), "OAUTHBEARER");
    }

    #[test]
    fn missing_pieces_and_plain_http_are_refused() {
        let app =
            parse("provider = \"microsoft\"\nclient_id = \"\"\nflow = \"client_credentials\"\n");
        let p = app.problems("app");
        assert!(p.iter().any(|e| e.contains("client_id")), "{p:?}");
        assert!(p.iter().any(|e| e.contains("tenant")), "{p:?}");
        assert!(p.iter().any(|e| e.contains("client_secret_env")), "{p:?}");
        let c = parse(
            "provider = \"custom\"\nclient_id = \"x\"\ntoken_url = \"http://idp.example.com/token\"\n",
        );
        assert!(
            c.problems("c")[0].contains("https only"),
            "{:?}",
            c.problems("c")
        );
        let local = parse(
            "provider = \"custom\"\nclient_id = \"x\"\ntoken_url = \"http://127.0.0.1:18089/token\"\n",
        );
        assert!(local.problems("c").is_empty());
    }
}
