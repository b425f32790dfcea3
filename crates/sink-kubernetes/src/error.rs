use std::path::PathBuf;

/// Everything that can go wrong when configuring, connecting, storing to or loading from a
/// Kubernetes sink, or when talking to the API server for the leader elector.
///
/// Messages name the namespace, object and what to change; they never contain key material
/// or the service account's token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A namespace or Secret name the API server would refuse.
    #[error("kubernetes sink: `{field}` {value:?} is not a valid name: {rule}")]
    InvalidName {
        /// The configuration key.
        field: &'static str,
        /// The value as configured.
        value: String,
        /// What a valid name looks like.
        rule: &'static str,
    },
    /// An extra label or annotation uses a key acmekeep sets itself.
    #[error(
        "kubernetes sink: `{field}` key {key:?} is set by acmekeep itself; remove it from the configuration"
    )]
    ReservedKey {
        /// `labels` or `annotations`.
        field: &'static str,
        /// The key as configured.
        key: String,
    },
    /// No kubeconfig was found (`$KUBECONFIG`, `~/.kube/config`) and acmekeep is not running
    /// in a pod.
    #[error(
        "kubernetes: no cluster to connect to: no usable kubeconfig at $KUBECONFIG or ~/.kube/config, and no in-cluster service account ({reason}); outside a pod set KUBECONFIG or `cluster.kubeconfig` to a kubeconfig file"
    )]
    NoConfiguration {
        /// Why neither a kubeconfig nor the in-cluster service account could be used.
        reason: String,
    },
    /// `cluster.context` is set without `cluster.kubeconfig`, and the kubeconfig from
    /// `$KUBECONFIG` or `~/.kube/config` cannot be read or does not have that context.
    #[error(
        "kubernetes: `cluster.context` {context:?}: the kubeconfig from $KUBECONFIG or ~/.kube/config cannot be used ({reason}); set `cluster.kubeconfig` or correct the context"
    )]
    InferredContext {
        /// The configured context.
        context: String,
        /// Why it could not be used.
        reason: String,
    },
    /// The kubeconfig file could not be read or does not have the context.
    #[error("kubernetes: kubeconfig {}: {reason}", path.display())]
    Kubeconfig {
        /// The configured file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// The HTTP client for the API server could not be built (TLS settings, certificates).
    #[error("kubernetes: cannot build a client for the API server {url}: {reason}")]
    Client {
        /// The API server's URL.
        url: String,
        /// The client library's reason.
        reason: String,
    },
    /// RBAC denied a request.
    #[error(
        "kubernetes: not allowed to {verb} {target} in namespace {namespace:?} (API server: {message}); add this rule to a Role in namespace {namespace:?} bound to acmekeep's service account: {rule}"
    )]
    Forbidden {
        /// The denied verb (`get`, `patch`, `create`, `update`, …).
        verb: String,
        /// The resource and, except for `create`, the object (`secrets "web-tls"`).
        target: String,
        /// The namespace.
        namespace: String,
        /// The API server's message.
        message: String,
        /// The Role rule that grants the request, in YAML flow style.
        rule: String,
    },
    /// The namespace does not exist.
    #[error(
        "kubernetes: namespace {namespace:?} does not exist (writing {resource} {name:?}); create it or correct `namespace`"
    )]
    NamespaceNotFound {
        /// The configured namespace.
        namespace: String,
        /// The resource being written.
        resource: String,
        /// The object being written.
        name: String,
    },
    /// Writes kept conflicting with another writer.
    #[error(
        "kubernetes: {resource} {namespace}/{name} kept changing under acmekeep ({attempts} conflicts; last: {message}); another controller writes this object: stop it or choose another name"
    )]
    Conflict {
        /// The resource.
        resource: String,
        /// The namespace.
        namespace: String,
        /// The object.
        name: String,
        /// How many attempts conflicted.
        attempts: u32,
        /// The API server's last message.
        message: String,
    },
    /// The API server could not be reached.
    #[error(
        "kubernetes: cannot reach the API server at {url} ({attempts} attempts; last: {reason}); check the address, the network policy and that the API server is up"
    )]
    Unreachable {
        /// The API server's URL.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last network error.
        reason: String,
    },
    /// A Secret of that name exists and acmekeep did not create it.
    #[error(
        "kubernetes: Secret {namespace}/{name} exists and was not created by acmekeep (managed by: {managers}); acmekeep leaves it alone: delete it, choose another `secret` name, or set `adopt = true` on this sink to take it over"
    )]
    Foreign {
        /// The namespace.
        namespace: String,
        /// The Secret.
        name: String,
        /// The field managers that wrote it, or "unknown".
        managers: String,
    },
    /// The Secret exists with a type other than `kubernetes.io/tls`.
    #[error(
        "kubernetes: Secret {namespace}/{name} has type {found:?}, not \"kubernetes.io/tls\", and a Secret's type cannot be changed: delete it or choose another `secret` name"
    )]
    WrongType {
        /// The namespace.
        namespace: String,
        /// The Secret.
        name: String,
        /// The type it has.
        found: String,
    },
    /// The deployed Secret's certificate data cannot be read.
    #[error("kubernetes: Secret {namespace}/{name}: {reason}")]
    Invalid {
        /// The namespace.
        namespace: String,
        /// The Secret.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other answer of the API server.
    #[error("kubernetes: {verb} {resource} {namespace}/{name}: {message}")]
    Api {
        /// The verb of the request.
        verb: String,
        /// The resource.
        resource: String,
        /// The namespace.
        namespace: String,
        /// The object.
        name: String,
        /// The HTTP status code, 0 when the answer was not a Status.
        code: u16,
        /// The API server's or the client's message.
        message: String,
    },
}

impl Error {
    /// Whether repeating the request soon may succeed (network errors, conflicts, 5xx, 429).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Conflict { .. } => true,
            Error::Api { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        }
    }
}

/// One request to the API server, described for error messages and RBAC advice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall<'a> {
    /// The RBAC verb (`get`, `patch`, `create`, `update`, `delete`).
    pub verb: &'a str,
    /// The resource (`secrets`, `leases`).
    pub resource: &'a str,
    /// The API group (`""` for core, `coordination.k8s.io`).
    pub group: &'a str,
    /// The namespace.
    pub namespace: &'a str,
    /// The object's name.
    pub name: &'a str,
}

impl ApiCall<'_> {
    /// Turns the client's error for this request into an [`Error`] that says what to fix;
    /// `url` is the API server's address, for network errors.
    pub fn error(&self, err: kube::Error, url: &str) -> Error {
        match err {
            kube::Error::Api(status) => self.status_error(status.code, &status.message, url),
            kube::Error::HyperError(e) => self.unreachable(url, 1, e.to_string()),
            kube::Error::Service(e) => self.unreachable(url, 1, acme_core::error_chain(e.as_ref())),
            other => self.api(0, acme_core::error_chain(&other)),
        }
    }

    fn status_error(&self, code: u16, message: &str, url: &str) -> Error {
        match code {
            403 => self.forbidden(denied_verb(message).unwrap_or(self.verb), message),
            404 if message.starts_with("namespaces ") => Error::NamespaceNotFound {
                namespace: self.namespace.to_string(),
                resource: self.resource.to_string(),
                name: self.name.to_string(),
            },
            409 => Error::Conflict {
                resource: self.resource.to_string(),
                namespace: self.namespace.to_string(),
                name: self.name.to_string(),
                attempts: 1,
                message: message.to_string(),
            },
            502..=504 => self.unreachable(url, 1, format!("HTTP {code}: {message}")),
            _ => self.api(code, message.to_string()),
        }
    }

    /// RBAC does not allow `verb` on this object: names the object and the Role rule to add;
    /// `message` is the API server's explanation.
    pub fn forbidden(&self, verb: &str, message: &str) -> Error {
        Error::Forbidden {
            rule: self.rule(verb),
            target: if verb == "create" || verb == "list" {
                self.resource.to_string()
            } else {
                format!("{} {:?}", self.resource, self.name)
            },
            verb: verb.to_string(),
            namespace: self.namespace.to_string(),
            message: message.to_string(),
        }
    }

    fn unreachable(&self, url: &str, attempts: u32, reason: String) -> Error {
        Error::Unreachable {
            url: url.to_string(),
            attempts,
            reason,
        }
    }

    fn api(&self, code: u16, message: String) -> Error {
        Error::Api {
            verb: self.verb.to_string(),
            resource: self.resource.to_string(),
            namespace: self.namespace.to_string(),
            name: self.name.to_string(),
            code,
            message,
        }
    }

    /// The Role rule that allows `verb` on this object. `create` (and `list`) cannot be
    /// limited by `resourceNames`, because the request carries no object name the
    /// authorizer could check.
    fn rule(&self, verb: &str) -> String {
        let names = if verb == "create" || verb == "list" {
            String::new()
        } else {
            format!(", resourceNames: [\"{}\"]", self.name)
        };
        format!(
            "{{apiGroups: [\"{}\"], resources: [\"{}\"]{names}, verbs: [\"{verb}\"]}}",
            self.group, self.resource
        )
    }
}

/// The verb in the API server's "… cannot VERB resource …" message.
fn denied_verb(message: &str) -> Option<&str> {
    let rest = message.split(" cannot ").nth(1)?;
    let verb = rest.split_whitespace().next()?;
    Some(verb).filter(|v| v.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: ApiCall<'static> = ApiCall {
        verb: "patch",
        resource: "secrets",
        group: "",
        namespace: "app",
        name: "web-tls",
    };

    #[test]
    fn a_denied_patch_names_the_rule_with_the_secret_name() {
        let message = "secrets \"web-tls\" is forbidden: User \"system:serviceaccount:app:acmekeep\" cannot patch resource \"secrets\" in API group \"\" in the namespace \"app\"";
        let err = CALL.status_error(403, message, "https://10.0.0.1");
        let text = err.to_string();
        assert!(
            text.contains("not allowed to patch secrets \"web-tls\""),
            "{text}"
        );
        assert!(
            text.contains(
                "{apiGroups: [\"\"], resources: [\"secrets\"], resourceNames: [\"web-tls\"], verbs: [\"patch\"]}"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_denied_create_names_a_rule_without_resource_names() {
        let message = "secrets \"web-tls\" is forbidden: User \"u\" cannot create resource \"secrets\" in API group \"\" in the namespace \"app\"";
        let text = CALL.status_error(403, message, "u").to_string();
        assert!(
            text.contains("{apiGroups: [\"\"], resources: [\"secrets\"], verbs: [\"create\"]}"),
            "{text}"
        );
    }

    #[test]
    fn only_network_conflict_and_server_errors_are_retryable() {
        assert!(CALL.status_error(409, "modified", "u").is_retryable());
        assert!(CALL.status_error(503, "down", "u").is_retryable());
        assert!(CALL.status_error(500, "oops", "u").is_retryable());
        assert!(!CALL.status_error(403, "no", "u").is_retryable());
        assert!(!CALL.status_error(422, "invalid", "u").is_retryable());
    }
}
