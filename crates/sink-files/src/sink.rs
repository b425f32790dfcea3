use std::sync::{Arc, Mutex, PoisonError};

use acme_core::{Bundle, Health, Sink, SinkFiles};
use async_trait::async_trait;
use nix::unistd::Group;

use crate::deploy::{self, Target};
use crate::{Error, FilesSinkConfig};

/// Delivers certificates into a directory as atomically swapped versions (see the crate docs).
///
/// Cloning is cheap; clones share one lock, so stores and loads through them never interleave.
#[derive(Clone, Debug)]
pub struct FilesSink {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    target: Target,
    lock: Mutex<()>,
}

impl FilesSink {
    /// Validates `config`: `dir` must be absolute and a named `group` must exist (a numeric
    /// gid is taken as it is, for containers whose group database does not list it).
    ///
    /// Nothing is written until the first store.
    pub fn new(config: FilesSinkConfig) -> Result<FilesSink, Error> {
        if !config.dir.is_absolute() {
            return Err(Error::RelativeDir(config.dir));
        }
        let gid = config.group.as_deref().map(resolve_group).transpose()?;
        Ok(FilesSink {
            shared: Arc::new(Shared {
                target: Target {
                    dir: config.dir,
                    gid,
                    keep: config.keep,
                },
                lock: Mutex::new(()),
            }),
        })
    }

    /// Runs blocking file work off the async runtime, one operation at a time per sink.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Target) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, acme_core::Error> {
        let shared = Arc::clone(&self.shared);
        let result = tokio::task::spawn_blocking(move || {
            let _guard = shared.lock.lock().unwrap_or_else(PoisonError::into_inner);
            work(&shared.target)
        })
        .await
        .unwrap_or_else(|e| {
            Err(Error::Task {
                dir: self.shared.target.dir.clone(),
                reason: e.to_string(),
            })
        });
        result.map_err(|e| acme_core::Error::Sink {
            sink: self.describe(),
            source: Box::new(e),
        })
    }
}

fn resolve_group(group: &str) -> Result<u32, Error> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match Group::from_name(group) {
        Ok(Some(found)) => Ok(found.gid.as_raw()),
        Ok(None) => Err(Error::UnknownGroup(group.to_owned())),
        Err(source) => Err(Error::GroupLookup {
            group: group.to_owned(),
            source,
        }),
    }
}

#[async_trait]
impl Sink for FilesSink {
    fn describe(&self) -> String {
        format!("files:{}", self.shared.target.dir.display())
    }

    fn files(&self) -> Option<SinkFiles> {
        let dir = &self.shared.target.dir;
        Some(SinkFiles {
            cert: dir.join("cert.pem"),
            chain: dir.join("chain.pem"),
            fullchain: dir.join("fullchain.pem"),
            key: dir.join("privkey.pem"),
        })
    }

    async fn preflight(&self) -> Result<(), acme_core::Error> {
        self.run(deploy::preflight).await
    }

    /// The preflight where the directory exists; where it does not, whether it could be
    /// created (without creating it).
    async fn health(&self) -> Health {
        match self.run(deploy::health).await {
            Ok(detail) => Health::healthy(self.describe(), detail),
            Err(acme_core::Error::Sink { source, .. }) => {
                Health::refused(self.describe(), source.to_string())
            }
            Err(err) => Health::refused(self.describe(), err.to_string()),
        }
    }

    async fn store(&self, bundle: &Bundle) -> Result<(), acme_core::Error> {
        let bundle = bundle.clone();
        self.run(move |target| deploy::store(target, &bundle)).await
    }

    async fn load(&self) -> Result<Option<Bundle>, acme_core::Error> {
        self.run(|target| deploy::load(&target.dir)).await
    }

    async fn load_as_is(&self) -> Result<Option<Bundle>, acme_core::Error> {
        self.run(|target| deploy::load_as_is(&target.dir)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_dir_is_rejected_with_its_path() {
        let err = FilesSink::new(FilesSinkConfig::new("certs/web")).expect_err("relative");
        assert_eq!(
            err.to_string(),
            "files sink: `dir` must be an absolute path, got certs/web"
        );
    }

    #[test]
    fn an_unknown_group_name_is_rejected_with_its_name() {
        let config = FilesSinkConfig {
            group: Some("no-such-group-acmekeep".into()),
            ..FilesSinkConfig::new("/srv/tls")
        };
        let err = FilesSink::new(config).expect_err("unknown group");
        assert_eq!(
            err.to_string(),
            "files sink: `group` \"no-such-group-acmekeep\" does not exist on this system"
        );
    }

    #[test]
    fn group_names_and_numeric_gids_resolve_to_gids() {
        assert_eq!(resolve_group("root").expect("root"), 0);
        assert_eq!(resolve_group("4242").expect("numeric"), 4242);
    }

    #[test]
    fn describe_names_the_kind_and_the_directory() {
        let sink = FilesSink::new(FilesSinkConfig::new("/etc/ssl/acmekeep/web")).expect("sink");
        assert_eq!(sink.describe(), "files:/etc/ssl/acmekeep/web");
    }
}
