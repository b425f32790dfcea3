/// Everything that can go wrong when configuring or running leader election.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is inconsistent (timings, empty names).
    #[error("leader election: {0}")]
    Config(String),
    /// Talking to the API server failed (RBAC, namespace, network), with what to fix.
    #[error("leader election: {0}")]
    Kubernetes(Box<sink_kubernetes::Error>),
}

impl From<sink_kubernetes::Error> for Error {
    fn from(e: sink_kubernetes::Error) -> Self {
        Error::Kubernetes(Box::new(e))
    }
}
