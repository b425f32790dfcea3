use std::path::{Path, PathBuf};

use instant_acme::{Account, AccountCredentials, ExternalAccountKey, NewAccount};
use serde::{Deserialize, Serialize};

use super::http::AcmeHttp;
use super::retry::retrying;
use acme_core::{Error, Secret};

/// An account as kept in `state_dir/accounts/<issuer>.json` (0600).
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// External account binding credentials, as the CA handed them out.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EabConfig {
    /// The key identifier.
    pub kid: String,
    /// The base64url HMAC key, or a secret reference (`env:…`, `file:…`).
    pub hmac_key: String,
}

pub(crate) struct AccountStore {
    pub(crate) path: PathBuf,
    pub(crate) directory: String,
    pub(crate) email: Option<String>,
    pub(crate) eab: Option<EabConfig>,
}

impl AccountStore {
    /// The stored account for this directory, or a new one registered and stored.
    pub(crate) async fn load_or_create(
        &self,
        http: &AcmeHttp,
        fresh: bool,
    ) -> Result<Account, Error> {
        let stored = if fresh { None } else { self.read()? };
        if let Some(stored) = stored {
            if stored.directory == self.directory {
                // Credentials are consumed by the call; keep the JSON to rebuild them on retry.
                let json = serde_json::to_string(&stored.credentials)
                    .map_err(|e| self.corrupt(e.to_string()))?;
                return retrying!("load account", async {
                    let credentials: AccountCredentials = serde_json::from_str(&json)?;
                    Account::builder_with_http(Box::new(http.clone()))
                        .from_credentials(credentials)
                        .await
                });
            }
            tracing::info!(
                directory = %self.directory,
                "the configured directory changed; registering a new account"
            );
        }
        self.create(http).await
    }

    async fn create(&self, http: &AcmeHttp) -> Result<Account, Error> {
        let contact = self.email.as_ref().map(|e| format!("mailto:{e}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let eab = match &self.eab {
            Some(eab) => Some(external_account_key(eab)?),
            None => None,
        };
        let new_account = NewAccount {
            contact: &contacts,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) = retrying!(
            "register account",
            Account::builder_with_http(Box::new(http.clone())).create(
                &new_account,
                self.directory.clone(),
                eab.as_ref()
            )
        )?;
        self.write(&StoredAccount {
            directory: self.directory.clone(),
            credentials,
        })?;
        tracing::info!(account = account.id(), "registered a new ACME account");
        Ok(account)
    }

    fn read(&self) -> Result<Option<StoredAccount>, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.corrupt(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                path: self.path.clone(),
                source: e,
            }),
        }
    }

    fn write(&self, stored: &StoredAccount) -> Result<(), Error> {
        if let Some(dir) = self.path.parent() {
            acme_core::ensure_private_dir(dir, 0o700)?;
        }
        let json = serde_json::to_vec_pretty(stored).map_err(|e| self.corrupt(e.to_string()))?;
        acme_core::write_atomic(&self.path, &json, 0o600)
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Io {
            path: self.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unreadable account file ({reason}); delete it to register anew"),
            ),
        }
    }
}

fn external_account_key(eab: &EabConfig) -> Result<ExternalAccountKey, Error> {
    use base64::Engine;
    let secret = Secret::resolve(&eab.hmac_key)?;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret.expose().trim_end_matches('='))
        .map_err(|_| Error::Secret {
            reference: if Secret::is_reference(&eab.hmac_key) {
                eab.hmac_key.clone()
            } else {
                "eab.hmac_key".to_string()
            },
            reason: "not base64url, as CAs hand out EAB HMAC keys".into(),
        })?;
    Ok(ExternalAccountKey::new(eab.kid.clone(), &key))
}

/// Where the account of issuer `name` is kept.
pub(crate) fn account_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("accounts").join(format!("{name}.json"))
}
