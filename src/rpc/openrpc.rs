//! The API description: the OpenRPC document of the `lookahead_`, `preconf_`, `gateway_` and
//! `watch_` namespaces (`docs/openrpc.json`, compiled in), served by `rpc.discover`. A test
//! (`tests/openrpc_matches_the_code.rs`) checks it against the code — method names, result
//! fields, error codes — so it cannot drift.

use jsonrpsee::{RpcModule, server::RegisterMethodError, types::ErrorObjectOwned};
use serde_json::Value;

/// The whole document, as committed in `docs/openrpc.json`.
pub const DOCUMENT: &str = include_str!("../../docs/openrpc.json");

/// The method that serves the document (OpenRPC's service discovery).
pub const DISCOVER: &str = "rpc.discover";

/// Why the document cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum OpenRpcError {
    /// The compiled-in document is not JSON of the expected shape.
    #[error("the OpenRPC document is malformed: {0}")]
    Malformed(String),
    /// `rpc.discover` is registered already.
    #[error("cannot register {DISCOVER}: {0}")]
    Register(#[from] RegisterMethodError),
}

/// The document restricted to the methods of `namespaces` (and `rpc.discover`), as one server
/// serves it: a server answers only for its own namespaces.
pub fn document(namespaces: &[&str]) -> Result<Value, OpenRpcError> {
    let mut document: Value = serde_json::from_str(DOCUMENT)
        .map_err(|error| OpenRpcError::Malformed(error.to_string()))?;
    let methods = document
        .get_mut("methods")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| OpenRpcError::Malformed("no `methods` array".into()))?;
    methods.retain(|method| {
        method.get("name").and_then(Value::as_str).is_some_and(|name| {
            name == DISCOVER
                || namespaces.iter().any(|namespace| {
                    name.strip_prefix(namespace).is_some_and(|rest| rest.starts_with('_'))
                })
        })
    });
    Ok(document)
}

/// `module` with `rpc.discover` added, answering the document of `namespaces`: what every
/// server of the project starts (a malformed document is an I/O-style start-up error).
pub fn with_discover<C: Send + Sync + 'static>(
    mut module: RpcModule<C>,
    namespaces: &[&str],
) -> std::io::Result<RpcModule<C>> {
    let discover = discover_module(namespaces).map_err(std::io::Error::other)?;
    module.merge(discover).map_err(std::io::Error::other)?;
    Ok(module)
}

/// A module with `rpc.discover`, answering the document of `namespaces`; merge it into a
/// server's module.
pub fn discover_module(namespaces: &[&str]) -> Result<RpcModule<()>, OpenRpcError> {
    let document = serde_json::value::to_raw_value(&document(namespaces)?)
        .map_err(|error| OpenRpcError::Malformed(error.to_string()))?;
    let mut module = RpcModule::new(());
    module.register_method(DISCOVER, move |_, _, _| Ok::<_, ErrorObjectOwned>(document.clone()))?;
    Ok(module)
}
