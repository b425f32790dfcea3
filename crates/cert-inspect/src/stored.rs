//! Chains and keys as stored: a PEM file, a files-sink directory, or text read elsewhere.

use std::path::Path;

use rustls_pki_types::CertificateDer;

use crate::{Error, parse_pem_certificates};

/// A certificate chain and maybe its private key, as read from one store.
#[derive(Clone, Debug)]
pub struct StoredChain {
    /// Where it is stored: `file:PATH`, `files:DIR` or `kubernetes:NS/NAME`.
    pub source: String,
    /// The files or Secret keys the chain and key were read from.
    pub read_from: Vec<String>,
    /// The chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key stored beside the chain.
    pub key: StoredKey,
}

/// The private key found beside a stored chain.
#[derive(Clone, Debug)]
pub enum StoredKey {
    /// There is none.
    Absent,
    /// Its PEM text.
    Pem(String),
    /// There is one but it cannot be read; why (e.g. permission denied).
    Unreadable(String),
}

impl StoredChain {
    /// Reads a PEM file: a certificate, optionally followed by its chain and a private key,
    /// or with the key in the separate file `key`.
    pub fn read_pem_file(path: &Path, key: Option<&Path>) -> Result<StoredChain, Error> {
        let text = read_text(path)?;
        let label = path.display().to_string();
        let certs = parse_pem_certificates(&text, &label)?;
        let mut read_from = vec![label];
        let key = match key {
            Some(key_path) => {
                read_from.push(key_path.display().to_string());
                Some(read_text(key_path)?)
            }
            None => private_key_block(&text),
        };
        Ok(StoredChain {
            source: format!("file:{}", path.display()),
            read_from,
            certs,
            key: key.map_or(StoredKey::Absent, StoredKey::Pem),
        })
    }

    /// Reads a files-sink directory: `fullchain.pem` (what servers send), else `cert.pem`
    /// and `chain.pem`; `privkey.pem` when present.
    pub fn read_files_dir(dir: &Path) -> Result<StoredChain, Error> {
        let mut read_from = Vec::new();
        let mut read = |name: &str| -> Result<Option<String>, Error> {
            let path = dir.join(name);
            if !path.exists() {
                return Ok(None);
            }
            read_from.push(path.display().to_string());
            read_text(&path).map(Some)
        };
        let pem = match read("fullchain.pem")? {
            Some(fullchain) => fullchain,
            None => {
                let mut cert = read("cert.pem")?.ok_or_else(|| Error::NotAFilesSink {
                    dir: dir.to_path_buf(),
                })?;
                if let Some(chain) = read("chain.pem")? {
                    if !cert.ends_with('\n') {
                        cert.push('\n');
                    }
                    cert.push_str(&chain);
                }
                cert
            }
        };
        let certs = parse_pem_certificates(&pem, &read_from.join(" + "))?;
        let key_path = dir.join("privkey.pem");
        let key = if key_path.exists() {
            read_from.push(key_path.display().to_string());
            match read_text(&key_path) {
                Ok(pem) => StoredKey::Pem(pem),
                Err(error) => StoredKey::Unreadable(error.to_string()),
            }
        } else {
            StoredKey::Absent
        };
        Ok(StoredChain {
            source: format!("files:{}", dir.display()),
            read_from,
            certs,
            key,
        })
    }
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The first `-----BEGIN … PRIVATE KEY-----` block of a PEM text, if any.
fn private_key_block(text: &str) -> Option<String> {
    let mut block = String::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim_end();
        if !inside && line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----") {
            inside = true;
        }
        if inside {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                return Some(block);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_key_block_is_found_among_certificates() {
        let text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nBBBB\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            private_key_block(text).as_deref(),
            Some("-----BEGIN EC PRIVATE KEY-----\nBBBB\n-----END EC PRIVATE KEY-----\n")
        );
        assert_eq!(private_key_block("-----BEGIN CERTIFICATE-----\n"), None);
    }
}
