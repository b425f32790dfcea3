use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::{ClusterConfig, Error};

/// A connected client for one API server, with its address for messages.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    url: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("url", &self.url).finish()
    }
}

impl Cluster {
    /// The client, for `kube::Api` calls.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The API server's URL, e.g. `https://10.96.0.1:443`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl ClusterConfig {
    /// Builds a client the way every Kubernetes tool finds its cluster: the configured
    /// kubeconfig file; else `$KUBECONFIG`, else `~/.kube/config`; else the in-cluster service
    /// account. `context` picks a context of whichever kubeconfig is used. Nothing is sent to
    /// the API server yet.
    pub async fn connect(&self) -> Result<Cluster, Error> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| Error::Kubeconfig {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?
            }
            (None, Some(context)) => {
                kube::Config::from_kubeconfig(&options).await.map_err(|e| {
                    Error::InferredContext {
                        context: context.clone(),
                        reason: e.to_string(),
                    }
                })?
            }
            (None, None) => kube::Config::infer()
                .await
                .map_err(|e| Error::NoConfiguration {
                    reason: e.to_string(),
                })?,
        };
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(30));
        config.write_timeout = Some(Duration::from_secs(30));
        let url = config.cluster_url.to_string();
        let url = url.trim_end_matches('/').to_string();
        let client = kube::Client::try_from(config).map_err(|e| Error::Client {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        Ok(Cluster { client, url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_kubeconfig_file_is_named() {
        let config = ClusterConfig::kubeconfig("/nonexistent/acmekeep/kubeconfig");
        let err = config.connect().await.expect_err("missing file");
        assert!(
            err.to_string().contains("/nonexistent/acmekeep/kubeconfig"),
            "{err}"
        );
    }
}
