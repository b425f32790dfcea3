//! The TPP REST calls the issuer makes, and the bearer tokens they carry.
//!
//! Tokens come from the configuration or from TPP's token service (`/vedauth`). When a
//! certificate call answers 401 and the issuer can get a new token (a refresh token, or a
//! password), it gets one and repeats the call once. A refreshed token pair is kept in the
//! state directory, because TPP may invalidate a refresh token once it has been used.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use acme_core::{HEALTH_TIMEOUT, Health};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::Error;
use crate::config::{Auth, SCOPE};

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A bearer or refresh token; its `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The tokens in use.
#[derive(Clone, Debug, Default)]
struct Tokens {
    access: Option<Token>,
    refresh: Option<Token>,
}

/// What the token file holds: the pair TPP issued last, and which configured refresh token
/// it descends from (a SHA-256, so a new configured token replaces the file's).
#[derive(Serialize, Deserialize)]
struct SavedTokens {
    configured: String,
    access_token: String,
    refresh_token: String,
}

/// TPP's answer to a token request (`/vedauth/authorize/oauth`, `/vedauth/authorize/token`).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// One answer of a certificate call.
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The body as JSON (`Null` when it was not JSON).
    pub(crate) json: Value,
    /// The body as text, for messages when it was not JSON.
    text: String,
}

impl Answer {
    /// An answer built in a unit test.
    #[cfg(test)]
    pub(crate) fn for_test(status: StatusCode, json: Value) -> Answer {
        Answer {
            text: json.to_string(),
            status,
            json,
        }
    }

    /// What TPP said went wrong: its `Error`, its OAuth `error`/`error_description`, its
    /// `Status`/`Stage`, or the start of the body; printable.
    pub(crate) fn detail(&self) -> String {
        acme_core::printable(&self.said())
    }

    /// What TPP said, as it said it.
    fn said(&self) -> String {
        let field = |name: &str| self.json.get(name).and_then(Value::as_str);
        if let Some(error) = field("Error").filter(|e| !e.is_empty()) {
            return error.to_string();
        }
        if let Some(error) = field("error") {
            return match field("error_description") {
                Some(description) => format!("{error}: {description}"),
                None => error.to_string(),
            };
        }
        if let Some(status) = field("Status") {
            return match self.json.get("Stage").and_then(Value::as_i64) {
                Some(stage) => format!("{status} (stage {stage})"),
                None => status.to_string(),
            };
        }
        let text = self.text.trim().to_string();
        if text.is_empty() {
            self.status
                .canonical_reason()
                .unwrap_or("no details")
                .to_string()
        } else {
            text
        }
    }
}

/// An authenticated client for one TPP server.
pub(crate) struct Client {
    http: reqwest::Client,
    base_url: String,
    client_id: String,
    zone: String,
    auth: Auth,
    tokens: Mutex<Tokens>,
    token_file: PathBuf,
}

impl Client {
    /// Sets up the HTTP client; with a refresh token, picks up the pair saved in `dir`.
    pub(crate) fn new(
        base_url: String,
        client_id: String,
        zone: String,
        auth: Auth,
        ca_bundle: Option<&Path>,
        dir: &Path,
    ) -> Result<Client, Error> {
        let http = acme_core::https_client(ca_bundle, REQUEST_TIMEOUT)
            .map_err(|e| Error::Client(e.to_string()))?;
        let token_file = dir.join("token.json");
        let tokens = match &auth {
            Auth::Token { access, refresh } => {
                let configured = Tokens {
                    access: access.as_ref().map(|s| Token(s.expose().to_string())),
                    refresh: refresh.as_ref().map(|s| Token(s.expose().to_string())),
                };
                match refresh {
                    Some(refresh) => {
                        saved_tokens(&token_file, refresh.expose()).unwrap_or(configured)
                    }
                    None => configured,
                }
            }
            Auth::Password { .. } => Tokens::default(),
        };
        Ok(Client {
            http,
            base_url,
            client_id,
            zone,
            auth,
            tokens: Mutex::new(tokens),
            token_file,
        })
    }

    /// POSTs `body` to `/vedsdk/<resource>` with the bearer token, renewing the token once
    /// if TPP answers 401 and a renewal is possible.
    pub(crate) async fn post(&self, resource: &str, body: &Value) -> Result<Answer, Error> {
        let mut token = self.current_token().await?;
        let mut renewed = false;
        loop {
            let answer = self.send(resource, body, &token).await?;
            if answer.status == StatusCode::UNAUTHORIZED && !renewed && self.can_renew() {
                tracing::info!(
                    zone = %self.zone,
                    detail = %answer.detail(),
                    "TPP refused the access token; getting a new one"
                );
                token = self.renew(&token).await?;
                renewed = true;
                continue;
            }
            if matches!(
                answer.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) {
                return Err(Error::Unauthorized {
                    zone: self.zone.clone(),
                    status: answer.status.as_u16(),
                    detail: answer.detail(),
                    hint: self.auth.renewal_hint(),
                });
            }
            return Ok(answer);
        }
    }

    fn can_renew(&self) -> bool {
        matches!(
            self.auth,
            Auth::Password { .. }
                | Auth::Token {
                    refresh: Some(_),
                    ..
                }
        )
    }

    async fn current_token(&self) -> Result<Token, Error> {
        let mut tokens = self.tokens.lock().await;
        if let Some(access) = &tokens.access {
            return Ok(access.clone());
        }
        self.renew_locked(&mut tokens).await
    }

    /// A token other than `refused`: the one another task got meanwhile, or a new one.
    async fn renew(&self, refused: &Token) -> Result<Token, Error> {
        let mut tokens = self.tokens.lock().await;
        match &tokens.access {
            Some(current) if current != refused => Ok(current.clone()),
            _ => self.renew_locked(&mut tokens).await,
        }
    }

    async fn renew_locked(&self, tokens: &mut Tokens) -> Result<Token, Error> {
        let answer = match &self.auth {
            Auth::Password { username, password } => {
                let body = json!({
                    "client_id": self.client_id,
                    "username": username,
                    "password": password.expose(),
                    "scope": SCOPE,
                });
                self.token_request(
                    "oauth",
                    &body,
                    format!("log in as {username} (client_id {})", self.client_id),
                    "check username and password, and that the TPP API integration with this \
                     client_id exists and allows scope certificate:manage",
                )
                .await?
            }
            Auth::Token {
                refresh: Some(configured),
                ..
            } => {
                let refresh = tokens
                    .refresh
                    .clone()
                    .unwrap_or_else(|| Token(configured.expose().to_string()));
                let body = json!({"client_id": self.client_id, "refresh_token": refresh.0});
                let answer = self
                    .token_request(
                        "token",
                        &body,
                        format!("refresh the access token (client_id {})", self.client_id),
                        "the refresh token expired, was revoked, or belongs to another client_id: \
                         get a new token pair for this API integration and update refresh_token",
                    )
                    .await?;
                let pair = answer.refresh_token.clone().unwrap_or(refresh.0);
                self.save_tokens(configured.expose(), &answer.access_token, &pair);
                answer
            }
            Auth::Token { refresh: None, .. } => {
                return Err(Error::Config(
                    "no access_token to use and no refresh_token to get one".into(),
                ));
            }
        };
        let access = Token(answer.access_token);
        tokens.access = Some(access.clone());
        if let Some(refresh) = answer.refresh_token {
            tokens.refresh = Some(Token(refresh));
        }
        Ok(access)
    }

    async fn token_request(
        &self,
        resource: &str,
        body: &Value,
        action: String,
        hint: &'static str,
    ) -> Result<TokenAnswer, Error> {
        let url = format!("{}/vedauth/authorize/{resource}", self.base_url);
        let answer = self.exchange(self.http.post(&url).json(body), &url).await?;
        if !answer.status.is_success() {
            return Err(Error::Login {
                action,
                status: answer.status.as_u16(),
                detail: answer.detail(),
                hint,
            });
        }
        serde_json::from_value(answer.json).map_err(|_| Error::Login {
            action,
            status: answer.status.as_u16(),
            detail: "the answer holds no access_token".into(),
            hint,
        })
    }

    async fn send(&self, resource: &str, body: &Value, token: &Token) -> Result<Answer, Error> {
        let url = format!("{}/vedsdk/{resource}", self.base_url);
        self.exchange(self.http.post(&url).bearer_auth(&token.0).json(body), &url)
            .await
    }

    async fn exchange(&self, request: reqwest::RequestBuilder, url: &str) -> Result<Answer, Error> {
        let network = |e: reqwest::Error| Error::Network {
            url: url.to_string(),
            reason: acme_core::error_chain(&e),
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        Ok(Answer {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// Keeps a refreshed pair for the next start; failing to is logged, not fatal.
    fn save_tokens(&self, configured: &str, access: &str, refresh: &str) {
        let saved = SavedTokens {
            configured: crate::pending::sha256_hex(configured.as_bytes()),
            access_token: access.to_string(),
            refresh_token: refresh.to_string(),
        };
        let written = serde_json::to_vec(&saved)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let dir = self.token_file.parent().unwrap_or(Path::new("."));
                acme_core::ensure_private_dir(dir, 0o700)
                    .and_then(|()| acme_core::write_atomic(&self.token_file, &bytes, 0o600))
                    .map_err(|e| e.to_string())
            });
        if let Err(reason) = written {
            tracing::warn!(
                file = %self.token_file.display(),
                %reason,
                "cannot keep the refreshed TPP token pair; after a restart the configured \
                 refresh_token is used again"
            );
        }
    }
}

/// The saved pair, if the file holds one descending from `configured`.
fn saved_tokens(file: &Path, configured: &str) -> Option<Tokens> {
    let bytes = std::fs::read(file).ok()?;
    let saved: SavedTokens = serde_json::from_slice(&bytes).ok()?;
    (saved.configured == crate::pending::sha256_hex(configured.as_bytes())).then_some(Tokens {
        access: Some(Token(saved.access_token)),
        refresh: Some(Token(saved.refresh_token)),
    })
}

impl Client {
    /// `GET /vedsdk/` without credentials: any HTTP answer shows the server is there (a
    /// credential problem shows in the next request, where TPP says which).
    pub(crate) async fn health(&self) -> Health {
        let url = format!("{}/vedsdk/", self.base_url);
        match self.http.get(&url).timeout(HEALTH_TIMEOUT).send().await {
            Ok(response) => {
                let date = response
                    .headers()
                    .get(reqwest::header::DATE)
                    .and_then(|d| d.to_str().ok())
                    .and_then(|d| httpdate::parse_http_date(d).ok());
                Health::healthy(&url, format!("answered HTTP {}", response.status()))
                    .with_server_date(date)
            }
            Err(err) => Health::unreachable(url, acme_core::error_chain(&err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("status"),
            json: serde_json::from_str(body).unwrap_or(Value::Null),
            text: body.to_string(),
        }
    }

    #[test]
    fn details_come_from_whichever_error_shape_tpp_used() {
        let cases = [
            (
                400,
                r#"{"Error": "Certificate \\VED\\Policy\\x does not exist."}"#,
                "Certificate \\VED\\Policy\\x does not exist.",
            ),
            (
                401,
                r#"{"error": "expired_token", "error_description": "Access token expired"}"#,
                "expired_token: Access token expired",
            ),
            (
                500,
                r#"{"Stage": 500, "Status": "Post CSR failed with error: Cannot connect to the certificate authority (CA)."}"#,
                "Post CSR failed with error: Cannot connect to the certificate authority (CA). (stage 500)",
            ),
            (502, "<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
            (403, "", "Forbidden"),
        ];
        for (status, body, expected) in cases {
            assert_eq!(answer(status, body).detail(), expected, "{body}");
        }
    }

    #[test]
    fn debug_output_never_shows_tokens() {
        let tokens = Tokens {
            access: Some(Token("s3cret-access".into())),
            refresh: Some(Token("s3cret-refresh".into())),
        };
        assert!(!format!("{tokens:?}").contains("s3cret"));
    }
}
