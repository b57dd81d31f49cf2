//! API keys of `stratovec serve`: read-write keys from `STRATOVEC_API_KEY` (or the file
//! named by `STRATOVEC_API_KEY_FILE`), read-only keys from `STRATOVEC_READ_ONLY_API_KEY`
//! (or `STRATOVEC_READ_ONLY_API_KEY_FILE`); several keys separated by commas or lines, so
//! keys can be rotated. A request carries one as `Authorization: Bearer KEY` or
//! `api-key: KEY`. Keys are compared in constant time and never logged.

use axum::http::{HeaderMap, StatusCode};
use stratovec::{Error, ErrorKind};
use subtle::ConstantTimeEq;

/// Latency buckets of the server's `_seconds` histograms: 50 µs to 5 s.
pub const BUCKETS: [f64; 16] =
    [50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0];

/// The configured keys; none at all means the API is open.
pub struct Keys {
    read_write: Vec<Vec<u8>>,
    read_only: Vec<Vec<u8>>,
}

/// Why a request was refused.
pub enum Denied {
    /// No key, or an unknown one: 401.
    Unauthenticated,
    /// A read-only key on a write: 403.
    ReadOnlyKey,
}

impl Denied {
    /// Status and message of the answer.
    pub fn answer(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Denied::Unauthenticated => {
                (StatusCode::UNAUTHORIZED, "unauthenticated", "a valid API key is required (Authorization: Bearer KEY or api-key: KEY)")
            }
            Denied::ReadOnlyKey => (StatusCode::FORBIDDEN, "forbidden", "this API key is read-only"),
        }
    }
}

fn keys_from(var: &str) -> Result<Vec<Vec<u8>>, Error> {
    let text = match (std::env::var(var), std::env::var(format!("{var}_FILE"))) {
        (Ok(v), _) => v,
        (Err(_), Ok(path)) => std::fs::read_to_string(&path)
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("{var}_FILE: cannot read {path}: {e}")))?,
        _ => return Ok(Vec::new()),
    };
    Ok(text.split([',', '\n']).map(str::trim).filter(|k| !k.is_empty()).map(|k| k.as_bytes().to_vec()).collect())
}

impl Keys {
    /// Reads the keys from the environment (see the module docs).
    ///
    /// # Errors
    /// `InvalidArgument` when a `_FILE` variable names a file that cannot be read.
    pub fn from_env() -> Result<Keys, Error> {
        Ok(Keys { read_write: keys_from("STRATOVEC_API_KEY")?, read_only: keys_from("STRATOVEC_READ_ONLY_API_KEY")? })
    }

    /// Whether no key is configured (every request is allowed).
    pub fn is_open(&self) -> bool {
        self.read_write.is_empty() && self.read_only.is_empty()
    }

    /// Allows the request when it carries a read-write key, or a read-only key and is not
    /// a `write`.
    pub fn check(&self, headers: &HeaderMap, write: bool) -> Result<(), Denied> {
        if self.is_open() {
            return Ok(());
        }
        let Some(given) = presented(headers) else { return Err(Denied::Unauthenticated) };
        // Every key is compared, whatever matched first, in constant time per key.
        let rw = self.read_write.iter().fold(0u8, |acc, k| acc | k.as_slice().ct_eq(given).unwrap_u8());
        let ro = self.read_only.iter().fold(0u8, |acc, k| acc | k.as_slice().ct_eq(given).unwrap_u8());
        match (rw, ro, write) {
            (1, _, _) => Ok(()),
            (_, 1, false) => Ok(()),
            (_, 1, true) => Err(Denied::ReadOnlyKey),
            _ => Err(Denied::Unauthenticated),
        }
    }
}

/// The key a request presents.
fn presented(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get("authorization") {
        let v = v.as_bytes();
        return v.strip_prefix(b"Bearer ").or_else(|| v.strip_prefix(b"bearer "));
    }
    headers.get("api-key").map(|v| v.as_bytes())
}
