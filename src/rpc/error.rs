//! JSON-RPC errors: the one helper every namespace builds its errors with, and the mapping of
//! the engine's typed query errors to the spec's codes (SPEC §6), in one place.

use crate::{
    core::schedule::QueryError,
    rpc::api::{BEYOND_HORIZON, NOT_SYNCED, TOO_OLD, UNKNOWN_ROLLUP},
};
use jsonrpsee::types::{ErrorObjectOwned, error::INVALID_PARAMS_CODE};
use serde::Serialize;

/// An error with `code`, `message` and no data.
pub fn rpc_error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

/// An error with `code`, `message` and `data` (what a client needs to act on it).
pub fn rpc_error_with<D: Serialize>(
    code: i32,
    message: impl Into<String>,
    data: D,
) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), Some(data))
}

/// -32602 invalid params; the message says which.
pub fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    rpc_error(INVALID_PARAMS_CODE, message)
}

/// Maps a typed query error to the spec's JSON-RPC error.
pub fn query_error(error: QueryError) -> ErrorObjectOwned {
    let code = match error {
        QueryError::UnknownRollup(_) => UNKNOWN_ROLLUP,
        QueryError::BeyondHorizon { .. } => BEYOND_HORIZON,
        QueryError::TooOld { .. } => TOO_OLD,
        QueryError::NotSynced | QueryError::NoAnchorWindow { .. } => NOT_SYNCED,
        QueryError::TooManySlots { .. } | QueryError::NoRollups => INVALID_PARAMS_CODE,
    };
    rpc_error(code, error.to_string())
}
